using System.Globalization;
using System.Text.Json.Nodes;
using Vic.Api.Models;
using Vic.PortLayer.Containers;

namespace Vic.Api.ContainersApi;

/// <summary>The Docker JSON of containers: list entries, inspect documents and status lines.</summary>
public static class ContainerViews
{
    public static JsonObject Summary(ContainerRecord c, DateTimeOffset now, Vic.PortLayer.Volumes.VolumeService volumes) => new()
    {
        ["Id"] = c.Id,
        ["Names"] = new JsonArray("/" + c.Name),
        ["Image"] = c.Image,
        ["ImageID"] = c.ImageId,
        ["Command"] = string.Join(' ', c.Config.Args),
        ["Created"] = c.Created.ToUnixTimeSeconds(),
        ["Ports"] = SummaryPorts(c),
        ["Labels"] = Labels(c),
        ["State"] = c.Status.State.ToWire(),
        ["Status"] = StatusLine(c.Status, now) + HealthSuffix(c),
        ["HostConfig"] = new JsonObject { ["NetworkMode"] = c.Config.NetworkMode },
        ["NetworkSettings"] = new JsonObject { ["Networks"] = Networks(c) },
        ["Mounts"] = Mounts(c, volumes),
    };

    /// <summary>The Mounts of inspect and ps: one per volume, with where its disk lives, and one per host bind.</summary>
    public static JsonArray Mounts(ContainerRecord c, Vic.PortLayer.Volumes.VolumeService volumes) =>
        new([.. c.Config.Mounts.Select(m => (JsonNode)new JsonObject
        {
            ["Type"] = "volume",
            ["Name"] = m.Name,
            ["Source"] = volumes.Mountpoint(m.Name),
            ["Destination"] = m.Target,
            ["Driver"] = "local",
            ["Mode"] = m.ReadOnly ? "ro" : "",
            ["RW"] = !m.ReadOnly,
            ["Propagation"] = "",
        }).Concat(c.Config.Binds.Select(b => (JsonNode)new JsonObject
        {
            ["Type"] = "bind",
            ["Source"] = b.Source,
            ["Destination"] = b.Target,
            ["Mode"] = b.ReadOnly ? "ro" : "",
            ["RW"] = !b.ReadOnly,
            ["Propagation"] = "rprivate",
        }))]);

    public static JsonObject Inspect(ContainerRecord c, string dataDirectory, Vic.PortLayer.Volumes.VolumeService volumes, int pid = 0, IReadOnlyList<string>? execIds = null)
    {
        var s = c.Status;
        var config = c.Config;
        var confinement = config.Confinement;
        var args = config.Args;
        var folder = Path.Combine(dataDirectory, "containers", c.Id);
        return new JsonObject
        {
            ["Id"] = c.Id,
            ["Created"] = Time(c.Created),
            ["Path"] = args.Count > 0 ? args[0] : "",
            ["Args"] = Array(args.Skip(1)),
            ["State"] = new JsonObject
            {
                ["Status"] = s.State.ToWire(),
                ["Running"] = s.IsRunning && s.State != ContainerState.Restarting,
                ["Paused"] = s.State == ContainerState.Paused,
                ["Restarting"] = s.State == ContainerState.Restarting,
                ["OOMKilled"] = s.OomKilled,
                ["Dead"] = s.State == ContainerState.Dead,
                ["Pid"] = pid,
                ["ExitCode"] = s.ExitCode,
                ["Error"] = s.Error,
                ["StartedAt"] = Time(s.StartedAt),
                ["FinishedAt"] = Time(s.FinishedAt),
                ["Health"] = c.Health is { } health ? Health(health) : null,
            },
            ["Image"] = c.ImageId,
            ["ResolvConfPath"] = "",
            ["HostnamePath"] = "",
            ["HostsPath"] = "",
            ["LogPath"] = Path.Combine(folder, "container.log"),
            ["Name"] = "/" + c.Name,
            ["RestartCount"] = c.RestartCount,
            ["Driver"] = "vmdk",
            ["Platform"] = "linux",
            ["MountLabel"] = "",
            ["ProcessLabel"] = "",
            ["AppArmorProfile"] = "",
            ["ExecIDs"] = execIds is { Count: > 0 } ? Array(execIds) : null,
            ["HostConfig"] = new JsonObject
            {
                ["AutoRemove"] = config.AutoRemove,
                ["LogConfig"] = new JsonObject { ["Type"] = config.Log.Driver, ["Config"] = new JsonObject([.. config.Log.Options.Select(o => KeyValuePair.Create(o.Key, (JsonNode?)o.Value))]) },
                ["Memory"] = config.MemoryBytes,
                ["NanoCpus"] = config.CpuAsked.NanoCpus,
                ["RestartPolicy"] = new JsonObject { ["Name"] = config.RestartPolicy.Name, ["MaximumRetryCount"] = config.RestartPolicy.MaximumRetryCount },
                ["NetworkMode"] = config.NetworkMode,
                ["PortBindings"] = PortBindings(config),
                ["PublishAllPorts"] = config.PublishAllPorts,
                ["Links"] = config.Links.Count == 0 ? null : new JsonArray([.. config.Links.Select(l => (JsonNode)$"/{l.Split(':')[0]}:/{c.Name}/{l.Split(':')[1]}")]),
                ["ExtraHosts"] = Array(config.ExtraHosts),
                ["Dns"] = Array(config.Dns),
                ["DnsSearch"] = Array(config.DnsSearch),
                ["Init"] = config.Init ? true : null,
                // The options a ContainerVM does not take (create refuses them) at the values they then have.
                ["ContainerIDFile"] = "",
                ["VolumeDriver"] = config.VolumeDriver,
                ["VolumesFrom"] = config.VolumesFrom.Count > 0 ? Array(config.VolumesFrom) : null,
                ["CapAdd"] = confinement.CapAdd.Count > 0 ? Array(confinement.CapAdd) : null,
                ["CapDrop"] = confinement.CapDrop.Count > 0 ? Array(confinement.CapDrop) : null,
                ["CgroupnsMode"] = confinement.CgroupnsMode is { Length: > 0 } cgroupns ? cgroupns : "private",
                ["DnsOptions"] = Array(config.DnsOptions),
                ["GroupAdd"] = config.GroupAdd.Count > 0 ? Array(config.GroupAdd) : null,
                ["IpcMode"] = confinement.IpcMode is { Length: > 0 } ipc ? ipc : "private",
                ["Cgroup"] = "",
                ["OomScoreAdj"] = confinement.OomScoreAdj,
                ["PidMode"] = confinement.PidMode,
                ["Privileged"] = confinement.Privileged,
                ["ReadonlyRootfs"] = confinement.ReadOnlyRoot,
                ["SecurityOpt"] = confinement.SecurityOpt.Count > 0 ? Array(confinement.SecurityOpt) : null,
                ["UTSMode"] = confinement.UtsMode,
                ["UsernsMode"] = "",
                ["ShmSize"] = confinement.ShmSizeBytes > 0 ? confinement.ShmSizeBytes : ContainerConfinement.DefaultShmBytes,
                ["Runtime"] = "containervm",
                ["Isolation"] = confinement.Isolation,
                ["DeviceCgroupRules"] = confinement.DeviceCgroupRules.Count > 0 ? Array(confinement.DeviceCgroupRules) : null,
                ["CpuShares"] = config.CpuAsked.Shares,
                ["CpuPeriod"] = config.CpuAsked.Period,
                ["CpuQuota"] = config.CpuAsked.Quota,
                ["CpusetCpus"] = confinement.CpusetCpus,
                ["CpusetMems"] = confinement.CpusetMems,
                ["Devices"] = new JsonArray([.. confinement.Devices.Select(d => (JsonNode)new JsonObject { ["PathOnHost"] = d.PathOnHost, ["PathInContainer"] = d.PathInContainer, ["CgroupPermissions"] = d.CgroupPermissions })]),
                ["MemoryReservation"] = 0,
                ["MemorySwap"] = 0,
                ["MemorySwappiness"] = null,
                ["OomKillDisable"] = null,
                ["PidsLimit"] = confinement.PidsLimit,
                ["Ulimits"] = confinement.Ulimits.Count > 0 ? new JsonArray([.. confinement.Ulimits.Select(u => (JsonNode)new JsonObject { ["Name"] = u.Name, ["Hard"] = u.Hard, ["Soft"] = u.Soft })]) : null,
                ["Tmpfs"] = config.Tmpfs.Count > 0 ? new JsonObject([.. config.Tmpfs.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value))]) : null,
                ["Sysctls"] = confinement.Sysctls.Count > 0 ? new JsonObject([.. confinement.Sysctls.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value))]) : null,
                ["Binds"] = new JsonArray([.. config.Mounts.Where(m => volumes.Find(m.Name) is { Anonymous: false }).Select(m => (JsonNode)$"{m.Name}:{m.Target}{(m.ReadOnly ? ":ro" : "")}")
                    .Concat(config.Binds.Where(b => b.CreateSource).Select(b => (JsonNode)$"{b.Source}:{b.Target}{(b.ReadOnly ? ":ro" : "")}"))]),
            },
            ["GraphDriver"] = new JsonObject { ["Name"] = "vmdk", ["Data"] = new JsonObject { ["Scratch"] = Path.Combine(folder, "scratch.vmdk") } },
            ["Mounts"] = Mounts(c, volumes),
            ["Config"] = new JsonObject
            {
                ["Hostname"] = config.Hostname.Length > 0 ? config.Hostname : c.Id[..12],
                ["Domainname"] = config.Domainname,
                ["User"] = config.User,
                ["AttachStdin"] = config.OpenStdin,
                ["AttachStdout"] = true,
                ["AttachStderr"] = true,
                ["Tty"] = config.Tty,
                ["OpenStdin"] = config.OpenStdin,
                ["StdinOnce"] = config.StdinOnce,
                ["Env"] = Array(config.Env),
                ["Cmd"] = Array(config.Cmd),
                ["Image"] = c.Image,
                ["WorkingDir"] = config.WorkingDir,
                ["Entrypoint"] = config.Entrypoint.Count == 0 ? null : Array(config.Entrypoint),
                ["Labels"] = Labels(c),
                ["StopSignal"] = config.StopSignal,
                ["StopTimeout"] = config.StopTimeout,
                ["Healthcheck"] = config.Healthcheck is { } check ? Healthcheck(check) : null,
                ["ExposedPorts"] = config.ExposedPorts.Count == 0 ? null : new JsonObject(config.ExposedPorts.Select(p => KeyValuePair.Create(p, (JsonNode?)new JsonObject()))),
            },
            ["NetworkSettings"] = NetworkSettings(c),
        };
    }

    /// <summary>
    /// NetworkSettings of inspect: the endpoint on each network and the published ports (while the
    /// container runs); the top-level address fields describe the default bridge, as on dockerd.
    /// </summary>
    public static JsonObject NetworkSettings(ContainerRecord c)
    {
        var bridge = c.Networks.TryGetValue(Vic.PortLayer.Networks.NetworkService.DefaultBridge, out var b) ? b : null;
        return new JsonObject
        {
            ["Bridge"] = "",
            ["SandboxID"] = c.Id,
            ["SandboxKey"] = "",
            ["HairpinMode"] = false,
            ["Ports"] = InspectPorts(c),
            ["EndpointID"] = bridge?.EndpointId ?? "",
            ["Gateway"] = bridge?.Gateway ?? "",
            ["IPAddress"] = bridge?.IpAddress ?? "",
            ["IPPrefixLen"] = bridge?.PrefixLength ?? 0,
            ["MacAddress"] = bridge is null ? "" : c.MacAddress,
            ["GlobalIPv6Address"] = bridge?.Ipv6Address ?? "",
            ["GlobalIPv6PrefixLen"] = bridge?.Ipv6PrefixLength ?? 0,
            ["IPv6Gateway"] = bridge?.Ipv6Gateway ?? "",
            ["Networks"] = Networks(c),
        };
    }

    private static JsonObject Networks(ContainerRecord c) =>
        new(c.Networks.Select(n => KeyValuePair.Create(n.Key, (JsonNode?)new JsonObject
        {
            ["IPAMConfig"] = n.Value.RequestedIp.Length > 0 || n.Value.RequestedIpv6.Length > 0 || n.Value.LinkLocalIps.Count > 0
                ? new JsonObject().Also(ipam =>
                {
                    if (n.Value.RequestedIp.Length > 0)
                    {
                        ipam["IPv4Address"] = n.Value.RequestedIp;
                    }

                    if (n.Value.RequestedIpv6.Length > 0)
                    {
                        ipam["IPv6Address"] = n.Value.RequestedIpv6;
                    }

                    if (n.Value.LinkLocalIps.Count > 0)
                    {
                        ipam["LinkLocalIPs"] = Array(n.Value.LinkLocalIps);
                    }
                })
                : null,
            ["Links"] = n.Value.Links.Count > 0 ? new JsonArray([.. n.Value.Links.Select(l => (JsonNode)l)]) : null,
            ["Aliases"] = n.Value.Aliases.Count > 0 ? new JsonArray([.. n.Value.Aliases.Select(a => (JsonNode)a)]) : null,
            ["MacAddress"] = n.Value.IpAddress.Length > 0 ? c.MacAddress : "",
            ["NetworkID"] = n.Value.NetworkId,
            ["EndpointID"] = n.Value.EndpointId,
            ["Gateway"] = n.Value.Gateway,
            ["IPAddress"] = n.Value.IpAddress,
            ["IPPrefixLen"] = n.Value.PrefixLength,
            ["IPv6Gateway"] = n.Value.Ipv6Gateway,
            ["GlobalIPv6Address"] = n.Value.Ipv6Address,
            ["GlobalIPv6PrefixLen"] = n.Value.Ipv6PrefixLength,
            ["DriverOpts"] = n.Value.DriverOpts.Count > 0 ? new JsonObject([.. n.Value.DriverOpts.Select(o => KeyValuePair.Create(o.Key, (JsonNode?)o.Value))]) : null,
            ["DNSNames"] = n.Value.IpAddress.Length > 0 ? new JsonArray([.. n.Value.Aliases.Prepend(c.Id[..12]).Prepend(c.Name).Select(a => (JsonNode)a)]) : null,
        })));

    /// <summary>The ports of inspect: every exposed or bound port, with its host bindings while the container runs.</summary>
    private static JsonObject InspectPorts(ContainerRecord c)
    {
        var running = c.Status.IsRunning;
        var keys = c.Config.ExposedPorts.Concat(c.Config.PortBindings.Select(p => p.ContainerPort)).Concat(running ? c.Ports.Select(p => $"{p.ContainerPort}/{p.Protocol}") : []).Distinct();
        return new JsonObject(keys.Select(k => KeyValuePair.Create(k, running && c.Ports.Any(p => $"{p.ContainerPort}/{p.Protocol}" == k)
            ? (JsonNode?)new JsonArray([.. c.Ports.Where(p => $"{p.ContainerPort}/{p.Protocol}" == k).Select(p => (JsonNode)new JsonObject { ["HostIp"] = p.HostIp, ["HostPort"] = p.HostPort.ToString(CultureInfo.InvariantCulture) })])
            : null)));
    }

    /// <summary>The Ports of <c>docker ps</c>: published ports while running, and exposed ones without a host side.</summary>
    private static JsonArray SummaryPorts(ContainerRecord c)
    {
        var published = c.Status.IsRunning ? c.Ports : [];
        var ports = published.Select(p => (JsonNode)new JsonObject { ["IP"] = p.HostIp, ["PrivatePort"] = p.ContainerPort, ["PublicPort"] = p.HostPort, ["Type"] = p.Protocol }).ToList();
        foreach (var exposed in c.Config.ExposedPorts.Where(e => !e.Contains('-', StringComparison.Ordinal)))
        {
            var (port, _, protocol) = Vic.PortLayer.Networks.PortNotation.Parse(exposed);
            if (!published.Any(p => p.ContainerPort == port && p.Protocol == protocol))
            {
                ports.Add(new JsonObject { ["PrivatePort"] = port, ["Type"] = protocol });
            }
        }

        return new JsonArray([.. ports]);
    }

    private static JsonObject PortBindings(ContainerConfig config) =>
        new(config.PortBindings.GroupBy(p => p.ContainerPort).Select(g => KeyValuePair.Create(g.Key, (JsonNode?)new JsonArray([.. g.Select(p => (JsonNode)new JsonObject { ["HostIp"] = p.HostIp, ["HostPort"] = p.HostPort })]))));

    /// <summary>The STATUS column of <c>docker ps</c>.</summary>
    public static string StatusLine(ContainerStatus status, DateTimeOffset now) => status switch
    {
        RunningStatus { StartedAt: { } at } => $"Up {HumanDuration(now - at)}",
        PausedStatus { StartedAt: { } at } => $"Up {HumanDuration(now - at)} (Paused)",
        RestartingStatus { FinishedAt: { } at } => $"Restarting ({status.ExitCode}) {HumanDuration(now - at)} ago",
        ExitedStatus { FinishedAt: { } at } => $"Exited ({status.ExitCode}) {HumanDuration(now - at)} ago",
        RemovingStatus => "Removal In Progress",
        DeadStatus => "Dead",
        _ => "Created",
    };

    /// <summary>What <c>docker ps</c> appends to a running container's status when it has a healthcheck.</summary>
    public static string HealthSuffix(ContainerRecord c) =>
        c.Status is RunningStatus && c.Health is { } health
            ? health.Status == ContainerHealth.Starting ? " (health: starting)" : $" ({health.Status})"
            : "";

    private static JsonObject Health(ContainerHealth health) => new()
    {
        ["Status"] = health.Status,
        ["FailingStreak"] = health.FailingStreak,
        ["Log"] = new JsonArray([.. health.Log.Select(r => (JsonNode)new JsonObject
        {
            ["Start"] = Time(r.Start),
            ["End"] = Time(r.End),
            ["ExitCode"] = r.ExitCode,
            ["Output"] = r.Output,
        })]),
    };

    private static JsonObject Healthcheck(HealthcheckConfig check) => new()
    {
        ["Test"] = Array(check.Test),
        ["Interval"] = check.Interval.Ticks * 100,
        ["Timeout"] = check.Timeout.Ticks * 100,
        ["StartPeriod"] = check.StartPeriod.Ticks * 100,
        ["Retries"] = check.Retries,
    };

    /// <summary>docker's go-units HumanDuration.</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (int)d.TotalSeconds;
        return seconds switch
        {
            < 1 => "Less than a second",
            1 => "1 second",
            < 60 => $"{seconds} seconds",
            _ when d.TotalMinutes < 2 => "About a minute",
            _ when d.TotalMinutes < 60 => $"{(int)d.TotalMinutes} minutes",
            _ when d.TotalHours < 2 => "About an hour",
            _ when d.TotalHours < 48 => $"{(int)d.TotalHours} hours",
            _ when d.TotalDays < 14 => $"{(int)d.TotalDays} days",
            _ when d.TotalDays < 60 => $"{(int)(d.TotalDays / 7)} weeks",
            _ when d.TotalDays < 730 => $"{(int)(d.TotalDays / 30)} months",
            _ => $"{(int)(d.TotalDays / 365)} years",
        };
    }

    private static JsonObject Labels(ContainerRecord c) => new(c.Labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value)));

    private static JsonArray Array(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)v)]);

    /// <summary>RFC 3339 with nanosecond digits; Go's zero time where there is none, as dockerd prints.</summary>
    private static string Time(DateTimeOffset? at) =>
        at is { } t ? t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffff00Z", CultureInfo.InvariantCulture) : "0001-01-01T00:00:00Z";
}
