namespace Vic.Registry.Tests;

public sealed class AuthChallengeTests
{
    [Fact]
    public void ParsesABearerChallenge()
    {
        var challenge = AuthChallenge.Parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\"")!;

        Assert.True(challenge.IsBearer);
        Assert.Equal("https://auth.docker.io/token", challenge.Realm);
        Assert.Equal("registry.docker.io", challenge.Parameters["service"]);
        Assert.Equal("repository:library/busybox:pull", challenge.Parameters["scope"]);
    }

    [Fact]
    public void ParsesABasicChallenge()
    {
        var challenge = AuthChallenge.Parse("Basic realm=\"test-registry\"")!;

        Assert.True(challenge.IsBasic);
        Assert.Equal("test-registry", challenge.Realm);
    }

    [Fact]
    public void NothingToParseIsNull() => Assert.Null(AuthChallenge.Parse(" "));
}
