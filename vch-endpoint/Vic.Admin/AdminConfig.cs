using System.Net;
using System.Security.Cryptography.X509Certificates;
using Vic.Admin.Access;

namespace Vic.Admin;

/// <summary>
/// vicadmin's validated settings, made by the composition root.
/// </summary>
/// <param name="Listen">Its own port (VIC's was 2378), always TLS.</param>
/// <param name="Certificate">The server certificate: the VCH's own, or one made for vicadmin.</param>
/// <param name="ClientCertificateTrusted">
/// With <c>--tlsverify</c>: whether a client certificate chains to the VCH's CA. Such a certificate
/// logs its holder in without a password, as the VCH's client certificates did in VIC's vicadmin.
/// </param>
/// <param name="PasswordChecks">Where a typed user name and password are checked; the first that accepts wins.</param>
/// <param name="Settings">The VCH's settings to show and to put in the log bundle, with every secret already left out.</param>
/// <param name="Version">The endpoint's version, shown on the page and in the bundle.</param>
public sealed record AdminConfig(
    IPEndPoint Listen,
    X509Certificate2 Certificate,
    Func<X509Certificate2, bool>? ClientCertificateTrusted,
    IReadOnlyList<IAdminPasswordCheck> PasswordChecks,
    IReadOnlyList<KeyValuePair<string, string>> Settings,
    string Version)
{
    /// <summary>How often the pool's usage is sampled for the chart.</summary>
    public TimeSpan SampleInterval { get; init; } = Status.PoolUsageSampler.DefaultInterval;
}
