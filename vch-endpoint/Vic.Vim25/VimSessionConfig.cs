namespace Vic.Vim25;

/// <summary>Where a vSphere endpoint is and how to log in to it.</summary>
/// <param name="Sdk">The SOAP endpoint, <c>https://vcenter/sdk</c>.</param>
/// <param name="Thumbprint">
/// The server certificate's SHA-1 (or SHA-256) thumbprint, <c>AA:BB:...</c>, as vSphere shows it: a
/// self-signed certificate is accepted when it matches. Null uses the system's trust.
/// </param>
/// <param name="Insecure">Accept any certificate (<c>--no-tlsverify</c>); for labs only.</param>
public sealed record VimSessionConfig(Uri Sdk, string UserName, string Password, string? Thumbprint = null, bool Insecure = false)
{
    /// <summary>How often an idle session is touched so the server does not expire it.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long one call may take before it is abandoned.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Shown to vCenter admins in the session list.</summary>
    public string UserAgent { get; init; } = "vic-endpoint/0.1";
}
