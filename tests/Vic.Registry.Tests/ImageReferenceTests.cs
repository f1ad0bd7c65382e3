namespace Vic.Registry.Tests;

public sealed class ImageReferenceTests
{
    [Theory]
    [InlineData("busybox", "docker.io", "library/busybox", "latest", null, "busybox:latest")]
    [InlineData("busybox:1.36", "docker.io", "library/busybox", "1.36", null, "busybox:1.36")]
    [InlineData("library/busybox", "docker.io", "library/busybox", "latest", null, "busybox:latest")]
    [InlineData("docker.io/library/busybox:musl", "docker.io", "library/busybox", "musl", null, "busybox:musl")]
    [InlineData("index.docker.io/user/app", "docker.io", "user/app", "latest", null, "user/app:latest")]
    [InlineData("user/app:v2", "docker.io", "user/app", "v2", null, "user/app:v2")]
    [InlineData("127.0.0.1:5000/app:1", "127.0.0.1:5000", "app", "1", null, "127.0.0.1:5000/app:1")]
    [InlineData("localhost/team/app", "localhost", "team/app", "latest", null, "localhost/team/app:latest")]
    [InlineData("registry.example.com/a/b/c:x", "registry.example.com", "a/b/c", "x", null, "registry.example.com/a/b/c:x")]
    [InlineData("busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io", "library/busybox", null, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void NormalisesLikeDistribution(string text, string registry, string repository, string? tag, string? digest, string familiar)
    {
        var reference = ImageReference.Parse(text);

        Assert.Equal(registry, reference.Registry);
        Assert.Equal(repository, reference.Repository);
        Assert.Equal(tag, reference.Tag);
        Assert.Equal(digest, reference.Digest);
        Assert.Equal(familiar, reference.FamiliarString);
    }

    [Theory]
    [InlineData("")]
    [InlineData(":tag")]
    [InlineData("a b")]
    [InlineData("busybox:")]
    [InlineData("busybox@sha256:123")]
    [InlineData("-leading")]
    [InlineData("UPPER")]
    [InlineData("a//b")]
    public void RefusesMalformedReferences(string text)
    {
        var error = Assert.Throws<FormatException>(() => ImageReference.Parse(text));

        Assert.StartsWith("invalid reference format", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UppercaseRepositoryNamesGetDockersOwnMessage()
    {
        var error = Assert.Throws<FormatException>(() => ImageReference.Parse("BusyBox"));

        Assert.Equal("invalid reference format: repository name (BusyBox) must be lowercase", error.Message);
    }
}
