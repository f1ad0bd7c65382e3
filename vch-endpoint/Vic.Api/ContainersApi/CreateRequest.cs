using System.Text.Json;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Networks;
using static Vic.Api.Models.RequestReading;

namespace Vic.Api.ContainersApi;

/// <summary>Reads the body of <c>POST /containers/create</c> (swagger: ContainerCreateRequest) into the port layer's terms.</summary>
public static class CreateRequest
{
    /// <param name="warnings">Gets what the create answer's <c>Warnings</c> says: options taken that a ContainerVM makes moot.</param>
    public static (string Image, IReadOnlyDictionary<string, string> Labels, ContainerConfig Config) Parse(JsonElement body, List<string>? warnings = null)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw PortLayerException.InvalidParameter("invalid JSON: the body must be a JSON object");
        }

        var audited = CreateFieldAudit.Check(body);
        warnings?.AddRange(audited);
        var image = Text(body, "Image");
        if (image.Length == 0)
        {
            throw PortLayerException.InvalidParameter("no image specified: config.Image must not be empty");
        }

        var host = body.TryGetProperty("HostConfig", out var h) && h.ValueKind == JsonValueKind.Object ? h : default;
        var restart = host.ValueKind == JsonValueKind.Object && host.TryGetProperty("RestartPolicy", out var r) && r.ValueKind == JsonValueKind.Object ? r : default;
        var policy = RestartPolicyOf(restart);
        if (Flag(host, "AutoRemove") && policy.Name != "no")
        {
            throw PortLayerException.InvalidParameter("can't create 'AutoRemove' container with restart policy");
        }

        var config = new ContainerConfig
        {
            Entrypoint = Strings(body, "Entrypoint"),
            Cmd = Strings(body, "Cmd"),
            Env = Strings(body, "Env"),
            WorkingDir = Text(body, "WorkingDir"),
            User = Text(body, "User"),
            Hostname = Text(body, "Hostname"),
            Domainname = Text(body, "Domainname"),
            Tty = Flag(body, "Tty"),
            OpenStdin = Flag(body, "OpenStdin"),
            StdinOnce = Flag(body, "StdinOnce"),
            StopSignal = Text(body, "StopSignal") is { Length: > 0 } signal ? signal : "SIGTERM",
            StopTimeout = body.TryGetProperty("StopTimeout", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : null,
            AutoRemove = Flag(host, "AutoRemove"),
            MemoryBytes = MemoryOf(host),
            Cpus = CpusOf(host),
            CpuAsked = new CpuRequest(Number(host, "NanoCpus"), Number(host, "CpuShares"), Number(host, "CpuQuota"), Number(host, "CpuPeriod")),
            RestartPolicy = policy,
            Healthcheck = body.TryGetProperty("Healthcheck", out var health) ? HealthcheckConfig.FromJson(health) : null,
            Init = Flag(host, "Init"),
            Mounts = MountsOf(body, host),
            Binds = BindsOf(host),
            ExtraHosts = [.. Strings(host, "ExtraHosts").Select(h => { ExtraHost.Validate(h); return h; })],
            Dns = Strings(host, "Dns"),
            DnsSearch = Strings(host, "DnsSearch"),
            NetworkMode = Text(host, "NetworkMode") is { Length: > 0 } mode ? mode : "default",
            ExposedPorts = body.TryGetProperty("ExposedPorts", out var exposed) && exposed.ValueKind == JsonValueKind.Object ? [.. exposed.EnumerateObject().Select(p => Port(p.Name))] : [],
            PortBindings = PortBindingsOf(host),
            PublishAllPorts = Flag(host, "PublishAllPorts"),
            Links = [.. Strings(host, "Links").Select(LinkOf)],
            Tmpfs = TmpfsOf(host),
            GroupAdd = Strings(host, "GroupAdd"),
            DnsOptions = Strings(host, "DnsOptions"),
            VolumesFrom = Strings(host, "VolumesFrom"),
            VolumeDriver = Text(host, "VolumeDriver"),
            Confinement = ConfinementRequest.Parse(host),
            MacAddress = MacAddressOf(body),
            Log = LogSettingsOf(host),
            EndpointRequests = EndpointRequestsOf(body),
        };
        var labels = body.TryGetProperty("Labels", out var l) && l.ValueKind == JsonValueKind.Object
            ? l.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : [];
        return (image, labels, config);
    }

    /// <summary>
    /// <c>--mac-address</c>: <c>Config.MacAddress</c> (API before 1.44) or an endpoint's
    /// <c>MacAddress</c> (1.44 on); one for all bridge networks, as a ContainerVM has one bridge NIC.
    /// </summary>
    private static string? MacAddressOf(JsonElement body)
    {
        var asked = new[] { Text(body, "MacAddress") }
            .Concat(EndpointsOf(body).Select(e => Text(e, "MacAddress")))
            .Where(m => m.Length > 0)
            .Select(m => m.ToLowerInvariant())
            .Distinct()
            .ToList();
        if (asked.Count > 1)
        {
            throw PortLayerException.InvalidParameter($"a ContainerVM has one bridge NIC: one MAC address (--mac-address) for all its networks, not {string.Join(" and ", asked)}");
        }

        if (asked.Count == 0)
        {
            return null;
        }

        var mac = asked[0];
        if (!System.Text.RegularExpressions.Regex.IsMatch(mac, "^([0-9a-f]{2}:){5}[0-9a-f]{2}$"))
        {
            throw PortLayerException.InvalidParameter($"invalid MAC address: {mac} (--mac-address)");
        }

        if ((Convert.ToByte(mac[..2], 16) & 1) != 0)
        {
            throw PortLayerException.InvalidParameter($"invalid MAC address: {mac} is a multicast address (--mac-address)");
        }

        return mac;
    }

    /// <summary><c>HostConfig.LogConfig</c>: the driver and its options, validated by the port layer.</summary>
    private static LogSettings LogSettingsOf(JsonElement host)
    {
        if (host.ValueKind != JsonValueKind.Object || !host.TryGetProperty("LogConfig", out var log) || log.ValueKind != JsonValueKind.Object)
        {
            return LogSettings.Default;
        }

        var options = log.TryGetProperty("Config", out var config) && config.ValueKind == JsonValueKind.Object
            ? config.EnumerateObject().ToDictionary(o => o.Name, o => o.Value.GetString() ?? "")
            : [];
        return LogSettings.Parse(Text(log, "Type"), options);
    }

    private static IEnumerable<JsonElement> EndpointsOf(JsonElement body) =>
        body.TryGetProperty("NetworkingConfig", out var n) && n.ValueKind == JsonValueKind.Object && n.TryGetProperty("EndpointsConfig", out var e) && e.ValueKind == JsonValueKind.Object
            ? e.EnumerateObject().Select(p => p.Value).Where(v => v.ValueKind == JsonValueKind.Object)
            : [];

    /// <summary><c>HostConfig.Tmpfs</c>: absolute paths, each once, none the root, and not where a volume or bind goes.</summary>
    private static Dictionary<string, string> TmpfsOf(JsonElement host)
    {
        var tmpfs = new Dictionary<string, string>(StringComparer.Ordinal);
        if (host.ValueKind != JsonValueKind.Object)
        {
            return tmpfs;
        }

        foreach (var entry in host.TryGetProperty("Tmpfs", out var map) && map.ValueKind == JsonValueKind.Object ? map.EnumerateObject() : Enumerable.Empty<JsonProperty>())
        {
            var path = entry.Name.TrimEnd('/');
            if (!entry.Name.StartsWith('/') || path.Length == 0 || path.Split('/').Contains(".."))
            {
                throw PortLayerException.InvalidParameter($"invalid mount config for type \"tmpfs\": invalid mount path '{entry.Name}' mount path must be absolute (--tmpfs)");
            }

            if (!tmpfs.TryAdd(path, entry.Value.GetString() ?? ""))
            {
                throw PortLayerException.InvalidParameter($"Duplicate mount point: {path}");
            }
        }

        // --mount type=tmpfs,destination=/run,tmpfs-size=1m,tmpfs-mode=1770: the same, in Mounts.
        foreach (var mount in host.TryGetProperty("Mounts", out var list) && list.ValueKind == JsonValueKind.Array ? list.EnumerateArray().Where(m => Text(m, "Type") == "tmpfs") : [])
        {
            var path = Target(Text(mount, "Target"));
            var options = new List<string>();
            if (Flag(mount, "ReadOnly"))
            {
                options.Add("ro");
            }

            if (mount.TryGetProperty("TmpfsOptions", out var tmpfsOptions) && tmpfsOptions.ValueKind == JsonValueKind.Object)
            {
                if (Number(tmpfsOptions, "SizeBytes") is > 0 and var size)
                {
                    options.Add($"size={size}");
                }

                if (Number(tmpfsOptions, "Mode") is > 0 and var mode)
                {
                    options.Add($"mode={Convert.ToString(mode, 8)}");
                }
            }

            if (!tmpfs.TryAdd(path, string.Join(',', options)))
            {
                throw PortLayerException.InvalidParameter($"Duplicate mount point: {path}");
            }
        }

        return tmpfs;
    }

    /// <summary>A VCH runs linux/amd64 ContainerVMs only; any other <c>--platform</c> is refused as dockerd refuses a platform it has no image for.</summary>
    public static void CheckPlatform(string? platform, string image)
    {
        if (string.IsNullOrEmpty(platform) || platform is "linux" or "amd64" or "linux/amd64" or "linux/x86_64" or "linux/amd64/v1")
        {
            return;
        }

        // 400, not dockerd's 404: the docker CLI takes a 404 from create for a missing image and pulls.
        throw PortLayerException.InvalidParameter($"image with reference {image} was found but does not match the specified platform: wanted {platform}, actual: linux/amd64 (--platform: a VCH runs linux/amd64 ContainerVMs only)");
    }

    /// <summary>
    /// The volumes asked for: <c>HostConfig.Binds</c> (<c>name:/path[:ro]</c>, or a bare <c>/path</c>),
    /// <c>HostConfig.Mounts</c> of type volume, and <c>Config.Volumes</c>; an empty name is an anonymous volume.
    /// </summary>
    public static IReadOnlyList<Vic.PortLayer.Volumes.VolumeMount> MountsOf(JsonElement body, JsonElement host)
    {
        var mounts = new List<Vic.PortLayer.Volumes.VolumeMount>();
        foreach (var bind in Strings(host, "Binds"))
        {
            var parts = bind.Split(':');
            if (parts.Length == 1)
            {
                mounts.Add(new(string.Empty, Target(parts[0])));
                continue;
            }

            if (parts[0].StartsWith('/'))
            {
                continue;
            }

            var options = parts.Length > 2 ? parts[2].Split(',') : [];
            mounts.Add(new(parts[0], Target(parts[1]), options.Contains("ro")));
        }

        if (host.ValueKind == JsonValueKind.Object && host.TryGetProperty("Mounts", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var mount in list.EnumerateArray())
            {
                var type = Text(mount, "Type");
                if (type is "bind" or "tmpfs")
                {
                    continue;
                }

                if (type is not ("volume" or ""))
                {
                    throw PortLayerException.NotImplemented($"mounts of type {type} are not served by this VCH yet; use a volume");
                }

                var labels = mount.TryGetProperty("VolumeOptions", out var volumeOptions) ? Map(volumeOptions, "Labels") : [];
                mounts.Add(new(Text(mount, "Source"), Target(Text(mount, "Target")), Flag(mount, "ReadOnly")) { Labels = labels.Count > 0 ? labels : null });
            }
        }

        if (body.TryGetProperty("Volumes", out var volumes) && volumes.ValueKind == JsonValueKind.Object)
        {
            // Clients list bind targets here too (compose does): those are not volumes.
            var bound = BindsOf(host).Select(b => b.Target).ToHashSet();
            foreach (var path in volumes.EnumerateObject().Select(p => p.Name).Where(p => mounts.All(m => m.Target != p) && !bound.Contains(p.TrimEnd('/'))))
            {
                mounts.Add(new(string.Empty, Target(path)));
            }
        }

        return mounts;
    }

    /// <summary>
    /// The host folders asked for: <c>HostConfig.Binds</c> whose source is an absolute path
    /// (<c>/host:/path[:ro]</c>) and <c>HostConfig.Mounts</c> of type bind, whose source must exist.
    /// </summary>
    public static IReadOnlyList<HostBind> BindsOf(JsonElement host)
    {
        var binds = new List<HostBind>();
        foreach (var bind in Strings(host, "Binds").Where(b => b.StartsWith('/')))
        {
            var parts = bind.Split(':');
            if (parts.Length is < 2 or > 3)
            {
                throw PortLayerException.InvalidParameter($"invalid volume specification: '{bind}'");
            }

            var options = parts.Length > 2 ? parts[2].Split(',') : [];
            if (options.FirstOrDefault(o => o is not ("ro" or "rw" or "z" or "Z" or "nocopy" or "private" or "rprivate" or "shared" or "rshared" or "slave" or "rslave")) is { } unknown)
            {
                throw PortLayerException.InvalidParameter($"invalid mode: {unknown}");
            }

            binds.Add(new HostBind(SourcePath(parts[0]), Target(parts[1]), options.Contains("ro")));
        }

        if (host.ValueKind == JsonValueKind.Object && host.TryGetProperty("Mounts", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var mount in list.EnumerateArray().Where(m => Text(m, "Type") == "bind"))
            {
                var source = Text(mount, "Source");
                if (source.Length == 0)
                {
                    throw PortLayerException.InvalidParameter("invalid mount config for type \"bind\": field Source must not be empty");
                }

                binds.Add(new HostBind(SourcePath(source), Target(Text(mount, "Target")), Flag(mount, "ReadOnly"), CreateSource: false));
            }
        }

        return binds;

        static string SourcePath(string path) =>
            Path.IsPathFullyQualified(path) && !path.Split('/').Contains("..")
                ? (path.Length > 1 ? path.TrimEnd('/') : path)
                : throw PortLayerException.InvalidParameter($"invalid mount config for type \"bind\": invalid mount path: '{path}' mount path must be absolute");
    }

    private static string Target(string path) =>
        path.StartsWith('/') && path.Length > 1
            ? path.TrimEnd('/')
            : throw PortLayerException.InvalidParameter($"invalid mount config: the mount point must be an absolute path, not \"{path}\"");

    /// <summary><c>HostConfig.PortBindings</c>: <c>{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}</c>.</summary>
    public static IReadOnlyList<PortBinding> PortBindingsOf(JsonElement host)
    {
        if (host.ValueKind != JsonValueKind.Object || !host.TryGetProperty("PortBindings", out var bindings) || bindings.ValueKind != JsonValueKind.Object)
        {
            return [];
        }

        var list = new List<PortBinding>();
        foreach (var port in bindings.EnumerateObject())
        {
            var containerPort = Port(port.Name);
            if (port.Value.ValueKind != JsonValueKind.Array || port.Value.GetArrayLength() == 0)
            {
                list.Add(new PortBinding(containerPort, "", ""));
                continue;
            }

            foreach (var binding in port.Value.EnumerateArray())
            {
                var hostIp = Text(binding, "HostIp");
                if (hostIp.Length > 0 && !(System.Net.IPAddress.TryParse(hostIp, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
                {
                    throw PortLayerException.InvalidParameter($"invalid IP address: {hostIp}");
                }

                var hostPort = Text(binding, "HostPort");
                PortNotation.HostRange(hostPort);
                list.Add(new PortBinding(containerPort, hostIp, hostPort));
            }
        }

        return list;
    }

    /// <summary><c>NetworkingConfig.EndpointsConfig</c>: per network, <c>--ip</c>, <c>--network-alias</c> and links.</summary>
    public static IReadOnlyDictionary<string, EndpointRequest> EndpointRequestsOf(JsonElement body)
    {
        var networking = body.TryGetProperty("NetworkingConfig", out var n) && n.ValueKind == JsonValueKind.Object ? n : default;
        if (networking.ValueKind != JsonValueKind.Object || !networking.TryGetProperty("EndpointsConfig", out var endpoints) || endpoints.ValueKind != JsonValueKind.Object)
        {
            return new Dictionary<string, EndpointRequest>();
        }

        return endpoints.EnumerateObject().ToDictionary(e => e.Name, e => EndpointRequestOf(e.Value));
    }

    public static EndpointRequest EndpointRequestOf(JsonElement endpoint)
    {
        var ipam = endpoint.ValueKind == JsonValueKind.Object && endpoint.TryGetProperty("IPAMConfig", out var i) && i.ValueKind == JsonValueKind.Object ? i : default;
        return new EndpointRequest(Text(ipam, "IPv4Address"), Strings(endpoint, "Aliases"), [.. Strings(endpoint, "Links").Select(LinkOf)])
        {
            Ipv6Address = Text(ipam, "IPv6Address"),
            LinkLocalIps = Strings(ipam, "LinkLocalIPs"),
            DriverOpts = Map(endpoint, "DriverOpts"),
        };
    }

    /// <summary>A link as <c>container:alias</c>; the API also carries dockerd's <c>/container:/self/alias</c> form.</summary>
    public static string LinkOf(string link)
    {
        var parts = link.Split(':');
        var container = parts[0].TrimStart('/');
        var alias = parts.Length > 1 ? parts[1][(parts[1].LastIndexOf('/') + 1)..] : container;
        return container.Length == 0 || alias.Length == 0 ? throw PortLayerException.InvalidParameter($"invalid link: {link}") : $"{container}:{alias}";
    }

    /// <summary>A container port in its canonical <c>port/proto</c> form.</summary>
    private static string Port(string text)
    {
        var (first, last, protocol) = PortNotation.Parse(text);
        return first == last ? $"{first}/{protocol}" : $"{first}-{last}/{protocol}";
    }

    /// <summary>
    /// The ContainerVM's vCPUs: --cpus (NanoCpus) or a CFS quota rounded up, or -c shares with
    /// 1024 per vCPU; a VM cannot have a fraction of a CPU. 0 means the VCH's default.
    /// </summary>
    public static int CpusOf(JsonElement host)
    {
        var nanoCpus = Number(host, "NanoCpus");
        var quota = Number(host, "CpuQuota");
        var period = Number(host, "CpuPeriod");
        var shares = Number(host, "CpuShares");
        if (nanoCpus < 0 || quota < 0 || shares < 0)
        {
            throw PortLayerException.InvalidParameter("Range of CPUs is from 0.01 to the number of CPUs in the pool");
        }

        return nanoCpus > 0 ? (int)Math.Ceiling(nanoCpus / 1e9)
            : quota > 0 ? (int)Math.Ceiling(quota / (double)(period > 0 ? period : 100_000))
            : shares > 0 ? (int)Math.Ceiling(shares / 1024.0)
            : 0;
    }

    /// <summary>The ContainerVM's memory (-m); Docker's floor of 6 MiB holds, and 0 means the VCH's default.</summary>
    public static long MemoryOf(JsonElement host)
    {
        var memory = Number(host, "Memory");
        return memory is > 0 and < 6 * 1024 * 1024
            ? throw PortLayerException.InvalidParameter("Minimum memory limit allowed is 6MB")
            : memory;
    }

    public static RestartPolicy RestartPolicyOf(JsonElement restart)
    {
        var name = Text(restart, "Name") is { Length: > 0 } given ? given : "no";
        var retries = (int)Number(restart, "MaximumRetryCount");
        return name switch
        {
            "no" or "always" or "unless-stopped" when retries != 0 => throw PortLayerException.InvalidParameter($"invalid restart policy: maximum retry count can only be used with 'on-failure'"),
            "on-failure" when retries < 0 => throw PortLayerException.InvalidParameter("invalid restart policy: maximum retry count cannot be negative"),
            "no" or "always" or "unless-stopped" or "on-failure" => new RestartPolicy(name, retries),
            _ => throw PortLayerException.InvalidParameter($"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
        };
    }
}
