using System.Net;

namespace Vic.Machine;

/// <summary>
/// Where an endpoint runs: beside vic-machine, reading the cert path's files and listening on the
/// admin's address; or in the appliance, reading the same files from its config disk and listening
/// on every address of its NICs, its state on its own data disk.
/// </summary>
/// <param name="File">Where the endpoint finds a file of the cert path.</param>
public sealed record EndpointHost(IPAddress Listen, string? DataDirectory, Func<string, string> File)
{
    /// <summary>The config disk's mount point in the appliance (its /init mounts the disk labelled VIC_CONFIG there).</summary>
    public const string ApplianceConfigDirectory = "/mnt/config";

    public static EndpointHost Beside(VchPlan plan) => new(plan.Endpoint.Address, Path.Combine(plan.CertPath, "data"), file => file);

    /// <summary>The appliance's /init gives the data directory itself (on VIC_DATA).</summary>
    public static EndpointHost InAppliance => new(IPAddress.Any, null, file => $"{ApplianceConfigDirectory}/{Path.GetFileName(file)}");
}

/// <summary>The endpoint's command line for a plan: what every VCH has whatever its backend.</summary>
public static class EndpointSettings
{
    public static List<string> Common(VchPlan plan) => Common(plan, EndpointHost.Beside(plan));

    /// <summary>The arguments every VCH's endpoint has, for where it runs: its files and the address it listens on.</summary>
    public static List<string> Common(VchPlan plan, EndpointHost host)
    {
        var arguments = new List<string>
        {
            "-H", $"tcp://{host.Listen}:{plan.Endpoint.Port}", "--name", plan.Name,
            "--pool-memory", $"{plan.MemoryMb}m",
            "--vicadmin", $"{host.Listen}:{plan.VicadminPort}",
        };
        if (host.DataDirectory is { } data)
        {
            arguments.AddRange(["--data-dir", data]);
        }

        if (plan.NoTls)
        {
            // The admin asked for plain HTTP (VIC's --no-tls): on an address others reach, that is their call.
            if (!IPAddress.IsLoopback(host.Listen))
            {
                arguments.Add("--allow-insecure-remote");
            }
        }
        else
        {
            arguments.AddRange([plan.TlsVerify ? "--tlsverify" : "--tls", "--tlscert", host.File(plan.ServerCertFile), "--tlskey", host.File(plan.ServerKeyFile)]);
        }

        if (File.Exists(plan.VicadminPasswordFile))
        {
            arguments.AddRange(["--vicadmin-password-file", host.File(plan.VicadminPasswordFile)]);
        }

        if (File.Exists(plan.RegistryCaFile))
        {
            arguments.AddRange(["--registry-ca", host.File(plan.RegistryCaFile)]);
        }

        if (File.Exists(plan.AuthzPolicyFile))
        {
            arguments.AddRange(["--authz-policy", host.File(plan.AuthzPolicyFile)]);
        }

        if (plan.TlsVerify)
        {
            arguments.AddRange(["--tlscacert", host.File(plan.ClientVerificationCaFile)]);
        }

        foreach (var mirror in plan.Settings.RegistryMirror)
        {
            arguments.AddRange(["--registry-mirror", mirror]);
        }

        foreach (var registry in plan.Settings.InsecureRegistry)
        {
            arguments.AddRange(["--insecure-registry", registry]);
        }

        foreach (var store in plan.Settings.VolumeStore)
        {
            arguments.AddRange(["--volume-store", store]);
        }

        if (!string.IsNullOrWhiteSpace(plan.Settings.SyslogAddress))
        {
            arguments.AddRange(["--syslog-address", plan.Settings.SyslogAddress]);
        }

        return arguments;
    }

    /// <summary>
    /// What a docker client needs, as shell lines that work as printed: the environment, then the
    /// same as one docker command. Without client verification DOCKER_CERT_PATH (or --tlscacert) is
    /// still given: docker's <c>--tls</c> otherwise looks for ~/.docker/ca.pem and fails without it.
    /// </summary>
    public static IEnumerable<string> ClientEnvironment(VchPlan plan)
    {
        yield return $"export DOCKER_HOST={plan.DockerHost}";
        if (plan.NoTls)
        {
            yield return "docker info";
            yield break;
        }

        if (plan.ClientCaGiven)
        {
            // The client's certificate comes from the admin's own CA: only the server's CA is ours to give.
            yield return "# clients present a certificate of a CA given to --tls-ca; with yours:";
            yield return $"# or: docker -H {plan.DockerHost} --tlsverify --tlscacert {Quoted(Path.Combine(plan.CertPath, "ca.pem"))} --tlscert YOUR-cert.pem --tlskey YOUR-key.pem info";
            yield break;
        }

        yield return $"export DOCKER_CERT_PATH={Quoted(plan.CertPath)}";
        if (plan.TlsVerify)
        {
            yield return "export DOCKER_TLS_VERIFY=1";
            yield return "docker info";
            yield return $"# or: docker -H {plan.DockerHost} --tlsverify --tlscacert {Quoted(Path.Combine(plan.CertPath, "ca.pem"))} --tlscert {Quoted(Path.Combine(plan.CertPath, "cert.pem"))} --tlskey {Quoted(Path.Combine(plan.CertPath, "key.pem"))} info";
        }
        else
        {
            // DOCKER_TLS is docker's --tls: TLS, the server's certificate not checked.
            yield return "export DOCKER_TLS=1";
            yield return "docker info";
            yield return $"# or: docker -H {plan.DockerHost} --tls --tlscacert {Quoted(Path.Combine(plan.CertPath, "ca.pem"))} info";
        }
    }

    /// <summary>
    /// The VCH's proxies as the endpoint's environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), which it
    /// reads as dockerd reads its own: a proxy URL may hold a password, which a command line would
    /// show to anyone who lists processes. Blank values are left out (configure's way to clear one).
    /// </summary>
    public static IReadOnlyDictionary<string, string> ProxyEnvironment(VchPlan plan) =>
        new[] { ("HTTP_PROXY", plan.Settings.HttpProxy), ("HTTPS_PROXY", plan.Settings.HttpsProxy), ("NO_PROXY", plan.Settings.NoProxy) }
            .Where(p => !string.IsNullOrWhiteSpace(p.Item2))
            .ToDictionary(p => p.Item1, p => p.Item2!.Trim());

    /// <summary>How an admin reaches vicadmin and logs in, as lines to print.</summary>
    public static IEnumerable<string> AdminPortal(VchPlan plan)
    {
        yield return $"VCH Admin Portal: {plan.VicadminUrl}";
        if (File.Exists(plan.VicadminPasswordFile))
        {
            yield return $"# log in as admin with the password in {Quoted(plan.VicadminPasswordFile)}";
        }
        else if (plan.TlsVerify)
        {
            yield return "# log in with a vSphere account, or present this VCH's client certificate";
        }
    }

    /// <summary>What one user's docker needs: the VCH's address (from <c>NAME.env</c>) and the user's own certificates.</summary>
    public static IEnumerable<string> UserEnvironment(string certPath, string vchName, string userFolder)
    {
        var environment = Path.Combine(certPath, $"{vchName}.env");
        var host = File.Exists(environment)
            ? File.ReadAllText(environment).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(v => v.StartsWith("DOCKER_HOST=", StringComparison.Ordinal))
            : null;
        if (host is not null)
        {
            yield return $"export {host}";
        }

        yield return $"export DOCKER_CERT_PATH={Quoted(userFolder)}";
        yield return "export DOCKER_TLS_VERIFY=1";
        yield return "docker info";
    }

    /// <summary>The files create was given that the endpoint reads for as long as it lives, copied into the cert path.</summary>
    public static void InstallGivenFiles(VchPlan plan)
    {
        InstallBundle(plan.Settings.TlsCa, plan.ClientCaFile, "--tls-ca");
        InstallRegistryCas(plan);
        InstallAuthzPolicy(plan);
    }

    /// <summary>
    /// Copies the authorization policy given to create into the cert path, where the endpoint reads it
    /// from then on (a policy file moved or edited elsewhere does not change a running VCH's rules).
    /// </summary>
    private static void InstallAuthzPolicy(VchPlan plan)
    {
        if (plan.Settings.AuthzPolicy is not { } given)
        {
            return;
        }

        if (!plan.TlsVerify)
        {
            throw new MachineException("--authz-policy names users by their client certificates: it cannot go with --no-tlsverify");
        }

        if (!File.Exists(given))
        {
            throw new MachineException($"--authz-policy: no such file {given}");
        }

        File.Copy(given, plan.AuthzPolicyFile, overwrite: true);
    }

    /// <summary>The <c>--registry-ca</c> files as one bundle in the cert path: the VCH keeps trusting them when the originals move.</summary>
    private static void InstallRegistryCas(VchPlan plan) => InstallBundle(plan.Settings.RegistryCa, plan.RegistryCaFile, "--registry-ca");

    /// <summary>PEM files given to <paramref name="option"/> as one bundle at <paramref name="bundleFile"/>; nothing when none were given.</summary>
    private static void InstallBundle(IReadOnlyList<string> files, string bundleFile, string option)
    {
        if (files.Count == 0)
        {
            return;
        }

        var bundle = new System.Text.StringBuilder();
        foreach (var given in files)
        {
            var text = File.Exists(given) ? File.ReadAllText(given) : throw new MachineException($"{option}: no such file {given}");
            if (!text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                throw new MachineException($"{option} {given}: no PEM certificate in it");
            }

            bundle.Append(text.TrimEnd()).Append('\n');
        }

        File.WriteAllText(bundleFile, bundle.ToString());
    }

    /// <summary>
    /// A VCH without vSphere accounts gets an <c>admin</c> login for vicadmin: a random password in a
    /// file only its owner reads, kept across upgrades of the endpoint.
    /// </summary>
    public static void EnsureVicadminPassword(VchPlan plan)
    {
        if (File.Exists(plan.VicadminPasswordFile))
        {
            return;
        }

        var password = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(18)).Replace('+', '-').Replace('/', '_');
        File.WriteAllText(plan.VicadminPasswordFile, "");
        File.SetUnixFileMode(plan.VicadminPasswordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(plan.VicadminPasswordFile, $"admin:{password}\n");
    }

    /// <summary>
    /// Writes <c>NAME.env</c> in the cert path as VIC did: the client's variables on one line,
    /// <c>KEY=value</c> separated by spaces. Returns its path.
    /// </summary>
    public static async Task<string> SaveEnvironmentAsync(VchPlan plan, CancellationToken cancellationToken)
    {
        var file = Path.Combine(plan.CertPath, $"{plan.Name}.env");
        var variables = plan.NoTls ? $"DOCKER_HOST={plan.DockerHost}"
            : plan.ClientCaGiven ? $"DOCKER_TLS_VERIFY=1 DOCKER_HOST={plan.DockerHost} COMPOSE_TLS_VERSION=TLSv1_2"
            : plan.TlsVerify ? $"DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={plan.CertPath} DOCKER_HOST={plan.DockerHost} COMPOSE_TLS_VERSION=TLSv1_2"
            : $"DOCKER_TLS=1 DOCKER_CERT_PATH={plan.CertPath} DOCKER_HOST={plan.DockerHost} COMPOSE_TLS_VERSION=TLSv1_2";
        await File.WriteAllTextAsync(file, variables + "\n", cancellationToken).ConfigureAwait(false);
        return file;
    }

    private static string Quoted(string path) => path.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`' or '\\') ? $"'{path.Replace("'", "'\\''", StringComparison.Ordinal)}'" : path;
}
