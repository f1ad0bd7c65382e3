using System.Text.Json;
using Vic.PortLayer.Containers;
using static Vic.Api.Models.RequestReading;

namespace Vic.Api.ContainersApi;

/// <summary>Reads HostConfig's security and process-limit fields (capabilities, ulimits, sysctls, devices, ...) into the port layer's <see cref="ContainerConfinement"/>.</summary>
public static class ConfinementRequest
{
    public static ContainerConfinement Parse(JsonElement host)
    {
        if (host.ValueKind != JsonValueKind.Object)
        {
            return ContainerConfinement.Default;
        }

        return new ContainerConfinement
        {
            CapAdd = Strings(host, "CapAdd"),
            CapDrop = Strings(host, "CapDrop"),
            Privileged = Flag(host, "Privileged"),
            ReadOnlyRoot = Flag(host, "ReadonlyRootfs"),
            SecurityOpt = Strings(host, "SecurityOpt"),
            Ulimits = [.. Objects(host, "Ulimits").Select(u => new Ulimit(Text(u, "Name"), Number(u, "Soft"), Number(u, "Hard")))],
            ShmSizeBytes = Number(host, "ShmSize"),
            Sysctls = Map(host, "Sysctls"),
            PidsLimit = host.TryGetProperty("PidsLimit", out var pids) && pids.ValueKind == JsonValueKind.Number ? pids.GetInt64() : null,
            Devices = [.. Objects(host, "Devices").Select(Device)],
            OomScoreAdj = (int)Math.Clamp(Number(host, "OomScoreAdj"), int.MinValue, int.MaxValue),
            CpusetCpus = Text(host, "CpusetCpus"),
            CpusetMems = Text(host, "CpusetMems"),
            PidMode = Text(host, "PidMode"),
            IpcMode = Text(host, "IpcMode"),
            UtsMode = Text(host, "UTSMode"),
            CgroupnsMode = Text(host, "CgroupnsMode"),
            Isolation = Text(host, "Isolation"),
            DeviceCgroupRules = Strings(host, "DeviceCgroupRules"),
        }.Validated();
    }

    private static DeviceMapping Device(JsonElement device)
    {
        var onHost = Text(device, "PathOnHost");
        var inContainer = Text(device, "PathInContainer");
        var permissions = Text(device, "CgroupPermissions");
        return new DeviceMapping(onHost, inContainer.Length > 0 ? inContainer : onHost, permissions.Length > 0 ? permissions : "rwm");
    }

    private static IEnumerable<JsonElement> Objects(JsonElement element, string name) =>
        element.TryGetProperty(name, out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Object)
            : [];
}
