using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Vic.Api.Authorization;

namespace Vic.Api.Tests.Authorization;

public sealed class CallerIdentityTests
{
    private static X509Certificate2 CertificateNamed(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static DefaultHttpContext Call(X509Certificate2? certificate, IPAddress? remote)
    {
        var context = new DefaultHttpContext();
        context.Connection.ClientCertificate = certificate;
        context.Connection.RemoteIpAddress = remote;
        return context;
    }

    [Fact]
    public void ACertificateNamesItsUserAndAConnectionWithoutOneIsTheSocketsOrAnonymous()
    {
        Assert.Equal("alice", CallerIdentity.UserOf(Call(CertificateNamed("alice"), IPAddress.Loopback)));
        Assert.Equal(AuthorizationPolicy.SocketUser, CallerIdentity.UserOf(Call(null, null)));
        Assert.Equal(AuthorizationPolicy.AnonymousUser, CallerIdentity.UserOf(Call(null, IPAddress.Loopback)));
    }

    [Theory]
    [InlineData("local")]
    [InlineData("anonymous")]
    public void ACertificateNamedLikeAConnectionsUserDoesNotPassForIt(string name) =>
        Assert.Equal(AuthorizationPolicy.AnonymousUser, CallerIdentity.UserOf(Call(CertificateNamed(name), IPAddress.Loopback)));
}
