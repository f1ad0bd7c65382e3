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
        var certs = plan.CertPath;
        var caFile = Path.Combine(certs, "ca.pem");
        if (plan.NoTls)
        {
            using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
            return await NamesAsync(plain, new Uri($"http://{plan.Endpoint}/containers/json"), cancellationToken).ConfigureAwait(false);
        }

        if (!File.Exists(caFile))
        {
            return null;
        }

        using var ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && IssuedBy(new X509Certificate2(certificate), ca);
        if (File.Exists(Path.Combine(certs, "cert.pem")) && File.Exists(Path.Combine(certs, "key.pem")))
        {
            using var pem = X509Certificate2.CreateFromPemFile(Path.Combine(certs, "cert.pem"), Path.Combine(certs, "key.pem"));

            // TLS on Linux wants the key in a form it can hand to OpenSSL: a PKCS#12 round trip gives it that.
            handler.SslOptions.ClientCertificates = [X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null)];
        }

        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
        return await NamesAsync(client, new Uri($"https://{plan.Endpoint}/containers/json"), cancellationToken).ConfigureAwait(false);
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
