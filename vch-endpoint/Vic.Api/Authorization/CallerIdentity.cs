using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;

namespace Vic.Api.Authorization;

/// <summary>Who is calling: the client certificate's common name, else where the call came in.</summary>
public static class CallerIdentity
{
    public static string UserOf(HttpContext context) =>
        UserOf(context.Connection.ClientCertificate, context.Connection.RemoteIpAddress is null);

    public static string UserOf(ConnectionContext connection) =>
        UserOf(connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate, connection.RemoteEndPoint is not System.Net.IPEndPoint);

    public static string RemoteOf(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "unix socket";

    public static string RemoteOf(ConnectionContext connection) => connection.RemoteEndPoint is System.Net.IPEndPoint ip ? ip.Address.ToString() : "unix socket";

    // The TLS layer has already refused certificates the VCH's CA did not sign (--tlsverify).
    // A certificate named like a connection's user (local, anonymous) is not let pass for it.
    private static string UserOf(X509Certificate2? certificate, bool onUnixSocket) =>
        certificate?.GetNameInfo(X509NameType.SimpleName, forIssuer: false) is { Length: > 0 } name
            ? name is AuthorizationPolicy.SocketUser or AuthorizationPolicy.AnonymousUser ? AuthorizationPolicy.AnonymousUser : name
        : onUnixSocket ? AuthorizationPolicy.SocketUser
        : AuthorizationPolicy.AnonymousUser;
}
