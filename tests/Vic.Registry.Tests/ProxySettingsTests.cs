using System.Net;
using Vic.Registry;

namespace Vic.Registry.Tests;

/// <summary>Which requests go through which proxy, by the rules of Go's net/http that dockerd follows.</summary>
public sealed class ProxySettingsTests
{
    private static readonly ProxySettings Both = new("http://web-proxy:3128", "http://tls-proxy:3129", null);

    [Theory]
    [InlineData("http://registry.example.com/v2/", "http://web-proxy:3128/")]
    [InlineData("https://registry.example.com/v2/", "http://tls-proxy:3129/")]
    [InlineData("https://10.1.2.3:5000/v2/", "http://tls-proxy:3129/")]
    [InlineData("http://localhost:5000/v2/", null)]
    [InlineData("https://127.0.0.1:5000/v2/", null)]
    [InlineData("https://127.9.9.9/v2/", null)]
    [InlineData("https://[::1]:5000/v2/", null)]
    public void EachSchemeGoesThroughItsOwnProxyAndLoopbackThroughNone(string destination, string? proxy) =>
        Assert.Equal(proxy, new ProxyRoute(Both).GetProxy(new Uri(destination))?.ToString());

    [Fact]
    public void OneSchemesProxyDoesNotStandInForTheOthers()
    {
        var httpsOnly = new ProxyRoute(new ProxySettings(null, "tls-proxy:3129", null));
        Assert.Null(httpsOnly.GetProxy(new Uri("http://registry.example.com/")));
        // Without a scheme a proxy is http://, as Go reads it.
        Assert.Equal("http://tls-proxy:3129/", httpsOnly.GetProxy(new Uri("https://registry.example.com/"))?.ToString());
    }

    [Theory]
    [InlineData("*", "https://anything.example.org/", true)]
    [InlineData("example.com", "https://example.com/", true)]
    [InlineData("example.com", "https://registry.example.com/", true)]
    [InlineData("example.com", "https://notexample.com/", false)]
    [InlineData(".example.com", "https://registry.example.com/", true)]
    [InlineData(".example.com", "https://example.com/", false)]
    [InlineData("*.example.com", "https://registry.example.com/", true)]
    [InlineData("*.example.com", "https://example.com/", false)]
    [InlineData("EXAMPLE.com", "https://Registry.Example.COM/", true)]
    [InlineData("10.0.0.0/8", "https://10.200.3.4:5000/", true)]
    [InlineData("10.0.0.0/8", "https://11.0.0.1/", false)]
    [InlineData("10.1.2.3/8", "https://10.9.9.9/", true)]
    [InlineData("192.168.0.7", "https://192.168.0.7:5000/", true)]
    [InlineData("192.168.0.7", "https://192.168.0.8/", false)]
    [InlineData("fd00::/8", "https://[fd00::5]/", true)]
    [InlineData("2001:db8::5", "https://[2001:db8::5]:5000/", true)]
    [InlineData("2001:db8::5", "https://[2001:db8::6]/", false)]
    [InlineData("[2001:db8::5]:5000", "https://[2001:db8::5]:5000/", true)]
    [InlineData("[2001:db8::5]:5000", "https://[2001:db8::5]/", false)]
    [InlineData("example.org:8443", "https://example.org:8443/", true)]
    [InlineData("example.org:8443", "https://example.org/", false)]
    [InlineData(" other.net , example.com ", "https://example.com/", true)]
    public void NoProxyListsHostsDomainsAddressesAndNetworks(string noProxy, string destination, bool bypassed)
    {
        var route = new ProxyRoute(Both with { NoProxy = noProxy });
        Assert.Equal(bypassed, route.IsBypassed(new Uri(destination)));
        Assert.Equal(bypassed, route.GetProxy(new Uri(destination)) is null);
    }

    [Fact]
    public void TheProxyUrlsCredentialsAnswerItsChallengeAndAreNotInTheUrlItself()
    {
        var route = new ProxyRoute(new ProxySettings("http://puller:p%40ss@proxy.example.com:3128", "http://puller:p%40ss@proxy.example.com:3128", null));

        var proxy = route.GetProxy(new Uri("https://registry.example.com/"))!;
        Assert.Equal("http://proxy.example.com:3128/", proxy.ToString());
        var credential = route.Credentials!.GetCredential(proxy, "Basic")!;
        Assert.Equal(("puller", "p@ss"), (credential.UserName, credential.Password));
    }

    [Theory]
    [InlineData("http://puller:s3cret@proxy:3128", "http://xxxxx:xxxxx@proxy:3128")]
    [InlineData("proxy:3128", "proxy:3128")]
    [InlineData("http://token@proxy:3128/", "http://xxxxx:xxxxx@proxy:3128/")]
    [InlineData("http://u:p%40ss@proxy:3128", "http://xxxxx:xxxxx@proxy:3128")]
    [InlineData("u:p@proxy:3128", "xxxxx:xxxxx@proxy:3128")]
    [InlineData("http://proxy:3128/a@b", "http://proxy:3128/a@b")]
    [InlineData(null, "")]
    public void InfoShowsAProxyWithItsPasswordMasked(string? proxy, string shown) =>
        Assert.Equal(shown, ProxySettings.Masked(proxy));

    [Fact]
    public void AProxyThatIsNoUrlIsRefusedNamingItsOptionAndNotItsPassword()
    {
        var refused = Assert.Throws<ArgumentException>(() => new ProxySettings("ftp://puller:s3cret@proxy:21", null, null).Validate());
        Assert.StartsWith("--http-proxy 'ftp://xxxxx:xxxxx@proxy:21'", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OptionsNotGivenComeFromTheEnvironmentUpperCaseFirst()
    {
        var environment = new Dictionary<string, string>
        {
            ["HTTPS_PROXY"] = "http://upper:3128",
            ["https_proxy"] = "http://lower:3128",
            ["no_proxy"] = "example.com",
            ["HTTP_PROXY"] = " ",
        };

        var settings = ProxySettings.FromOptionsOrEnvironment(null, null, null, environment.GetValueOrDefault);
        var given = ProxySettings.FromOptionsOrEnvironment("http://given:3128", null, "", environment.GetValueOrDefault);

        Assert.Equal(new ProxySettings(null, "http://upper:3128", "example.com"), settings);
        Assert.Equal(new ProxySettings("http://given:3128", "http://upper:3128", "example.com"), given);
    }
}
