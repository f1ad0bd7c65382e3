using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Vic.Machine;

/// <summary>
/// The VCH's Docker API as vic-machine sees it, with the client certificate and CA from its cert
/// path: what delete asks before it removes containers a user still runs.
/// </summary>
public static class VchApiClient
{
    /// <summary>The names of the running containers; null when the endpoint does not answer.</summary>
    public static async Task<IReadOnlyList<string>?> RunningContainersAsync(VchPlan plan, CancellationToken cancellationToken)
    {
        if (plan.NoTls)
        {
            using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
            return await NamesAsync(plain, new Uri($"http://{plan.Endpoint}/containers/json"), cancellationToken).ConfigureAwait(false);
        }

        using var client = TlsClient(plan, TimeSpan.FromSeconds(20));
        return client is null ? null : await NamesAsync(client, new Uri($"https://{plan.Endpoint}/containers/json"), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The appliance's log bundle (vicadmin's <c>/logs.zip</c>: the endpoint's log, the VCH's settings,
    /// each container's output and console), fetched with vic-machine's client certificate, which
    /// vicadmin takes as an admin's login as it takes a browser's.
    /// </summary>
    public static async Task<byte[]> LogBundleAsync(VchPlan plan, CancellationToken cancellationToken)
    {
        var bundle = new Uri($"https://{plan.Endpoint.Address}:{plan.VicadminPort}/logs.zip");
        using var client = (HasClientCertificate(plan) ? TlsClient(plan, TimeSpan.FromMinutes(2)) : null)
            ?? throw new MachineException($"no client certificate and CA for vicadmin in {plan.CertPath}: log in at {plan.VicadminUrl} and download the log bundle there");
        try
        {
            using var response = await client.GetAsync(bundle, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new MachineException($"vicadmin at {bundle} answered {(int)response.StatusCode} {response.ReasonPhrase}: {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}");
            }

            return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new MachineException($"vicadmin at {bundle} did not answer ({ex.Message}): is the appliance powered on?");
        }
    }

    /// <summary>
    /// Asks the appliance's endpoint to stop (vicadmin's <c>POST /api/stop</c>, with the client
    /// certificate): it ends of itself, and the appliance then unmounts its data disk and powers off.
    /// False when it cannot be asked (no certificate, no answer, a refusal): the caller powers off.
    /// </summary>
    public static async Task<bool> StopEndpointAsync(VchPlan plan, CancellationToken cancellationToken)
    {
        try
        {
            using var client = HasClientCertificate(plan) ? TlsClient(plan, TimeSpan.FromSeconds(20)) : null;
            if (client is null)
            {
                return false;
            }

            using var response = await client.PostAsync(new Uri($"https://{plan.Endpoint.Address}:{plan.VicadminPort}/api/stop"), null, cancellationToken).ConfigureAwait(false);
            return response.StatusCode == System.Net.HttpStatusCode.Accepted;
        }
        catch (Exception ex) when (ex is HttpRequestException or System.Security.Cryptography.CryptographicException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static bool HasClientCertificate(VchPlan plan) =>
        File.Exists(Path.Combine(plan.CertPath, "cert.pem")) && File.Exists(Path.Combine(plan.CertPath, "key.pem"));

    /// <summary>
    /// A client that trusts only the VCH's CA and presents vic-machine's client certificate when it
    /// has one; null without the CA.
    /// </summary>
    private static HttpClient? TlsClient(VchPlan plan, TimeSpan timeout)
    {
        var certs = plan.CertPath;
        var caFile = Path.Combine(certs, "ca.pem");
        if (!File.Exists(caFile))
        {
            return null;
        }

        var ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && IssuedBy(new X509Certificate2(certificate), ca);
        if (HasClientCertificate(plan))
        {
            using var pem = X509Certificate2.CreateFromPemFile(Path.Combine(certs, "cert.pem"), Path.Combine(certs, "key.pem"));

            // TLS on Linux wants the key in a form it can hand to OpenSSL: a PKCS#12 round trip gives it that.
            handler.SslOptions.ClientCertificates = [X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null)];
        }

        return new HttpClient(handler) { Timeout = timeout };
    }

    /// <summary>The names of the running containers <c>GET /containers/json</c> lists; null when the VCH does not answer.</summary>
    private static async Task<IReadOnlyList<string>?> NamesAsync(HttpClient client, Uri list, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await client.GetAsync(list, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            return [.. body.RootElement.EnumerateArray().Select(c => c.GetProperty("Names").EnumerateArray().FirstOrDefault().GetString()?.TrimStart('/') ?? c.GetProperty("Id").GetString()!)];
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private static bool IssuedBy(X509Certificate2 certificate, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    /// <summary>Refuses to go on while containers run, unless forced: VIC's delete without --force.</summary>
    public static async Task RefuseWhileContainersRunAsync(VchPlan plan, bool force, MachineProgress progress, CancellationToken cancellationToken)
    {
        if (await RunningContainersAsync(plan, cancellationToken).ConfigureAwait(false) is not { Count: > 0 } running)
        {
            return;
        }

        if (!force)
        {
            throw new MachineException($"delete failed: the VCH {plan.Name} has {running.Count} running container(s) ({string.Join(", ", running)}); stop them, or give --force to delete them with it");
        }

        progress.Step($"--force: deleting {running.Count} running container(s) with the VCH");
    }
}
