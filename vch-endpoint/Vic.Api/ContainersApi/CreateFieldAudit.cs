using System.Text.Json;
using Vic.PortLayer.Errors;

namespace Vic.Api.ContainersApi;

/// <summary>
/// Every field of the create body (swagger: ContainerConfig and HostConfig, API 1.47) with what
/// the VCH does with it, so that none is dropped without a word: a field the VCH honours is
/// type-checked as dockerd's JSON decoder would (a string where a number belongs is 400, not a
/// silently different container); a field it cannot honour is refused, naming the field and its
/// docker CLI flag, unless it holds the value the CLI sends when the flag is not used; a field a VM
/// makes moot is taken with a warning (the create answer's <c>Warnings</c>), as dockerd warns of
/// what its kernel lacks.
/// </summary>
public static class CreateFieldAudit
{
    private enum Kind
    {
        String,
        Bool,
        Integer,
        StringList,
        StringOrList,
        StringMap,
        Object,
        ObjectList,
    }

    /// <summary>
    /// How the VCH treats one field: honoured, or refused when it holds anything but the values
    /// listed as defaults; with a <paramref name="Warning"/>, taken and warned about instead (for
    /// <paramref name="WarnedValues"/> only, when listed).
    /// </summary>
    private sealed record Field(Kind Kind, bool Honoured, string? Flag = null, string[]? AlsoDefault = null, string? Warning = null, string[]? WarnedValues = null);

    private const string HostNamespace = "the ContainerVM is the container's host: its one namespace is the VM's";
    private const string NoCgroupLimit = "discarded: a ContainerVM's memory and disks are its own, not shares of a host's";

    private static readonly Dictionary<string, Field> ConfigFields = new(StringComparer.Ordinal)
    {
        ["Hostname"] = new(Kind.String, true),
        ["Domainname"] = new(Kind.String, true),
        ["User"] = new(Kind.String, true),
        ["AttachStdin"] = new(Kind.Bool, true),
        ["AttachStdout"] = new(Kind.Bool, true),
        ["AttachStderr"] = new(Kind.Bool, true),
        ["ExposedPorts"] = new(Kind.Object, true),
        ["Tty"] = new(Kind.Bool, true),
        ["OpenStdin"] = new(Kind.Bool, true),
        ["StdinOnce"] = new(Kind.Bool, true),
        ["Env"] = new(Kind.StringList, true),
        ["Cmd"] = new(Kind.StringOrList, true),
        ["Healthcheck"] = new(Kind.Object, true),
        ["ArgsEscaped"] = new(Kind.Bool, true), // Windows only: dockerd ignores it on Linux too
        ["Image"] = new(Kind.String, true),
        ["Volumes"] = new(Kind.Object, true),
        ["WorkingDir"] = new(Kind.String, true),
        ["Entrypoint"] = new(Kind.StringOrList, true),
        ["NetworkDisabled"] = new(Kind.Bool, false, "--network none"),
        ["MacAddress"] = new(Kind.String, true),
        ["OnBuild"] = new(Kind.StringList, false, "ONBUILD"),
        ["Labels"] = new(Kind.StringMap, true),
        ["StopSignal"] = new(Kind.String, true),
        ["StopTimeout"] = new(Kind.Integer, true),
        ["Shell"] = new(Kind.StringOrList, false, "SHELL"),
        ["HostConfig"] = new(Kind.Object, true),
        ["NetworkingConfig"] = new(Kind.Object, true),
    };

    private static readonly Dictionary<string, Field> HostConfigFields = new(StringComparer.Ordinal)
    {
        ["Binds"] = new(Kind.StringList, true),
        ["ContainerIDFile"] = new(Kind.String, true), // written by the client, never sent on
        ["LogConfig"] = new(Kind.Object, true), // checked in LogConfigOf
        ["NetworkMode"] = new(Kind.String, true),
        ["PortBindings"] = new(Kind.Object, true),
        ["RestartPolicy"] = new(Kind.Object, true),
        ["AutoRemove"] = new(Kind.Bool, true),
        ["VolumeDriver"] = new(Kind.String, true), // checked when a volume is made
        ["VolumesFrom"] = new(Kind.StringList, true),
        ["Mounts"] = new(Kind.ObjectList, true), // checked in MountsOf
        ["ConsoleSize"] = new(Kind.ObjectList, true), // the client resizes the tty once attached
        ["Annotations"] = new(Kind.StringMap, false, "--annotation"),
        ["CapAdd"] = new(Kind.StringList, true),
        ["CapDrop"] = new(Kind.StringList, true),
        ["CgroupnsMode"] = new(Kind.String, false, "--cgroupns", ["private"], HostNamespace, ["host"]),
        ["Dns"] = new(Kind.StringList, true),
        ["DnsOptions"] = new(Kind.StringList, true),
        ["DnsSearch"] = new(Kind.StringList, true),
        ["ExtraHosts"] = new(Kind.StringList, true),
        ["GroupAdd"] = new(Kind.StringList, true),
        ["IpcMode"] = new(Kind.String, false, "--ipc", ["private", "shareable"], HostNamespace, ["host"]),
        ["Cgroup"] = new(Kind.String, false, "--cgroup"),
        ["Links"] = new(Kind.StringList, true),
        ["OomScoreAdj"] = new(Kind.Integer, true),
        ["PidMode"] = new(Kind.String, false, "--pid", null, HostNamespace, ["host"]),
        ["Privileged"] = new(Kind.Bool, true),
        ["PublishAllPorts"] = new(Kind.Bool, true),
        ["ReadonlyRootfs"] = new(Kind.Bool, true),
        ["SecurityOpt"] = new(Kind.StringList, true), // checked in ContainerConfinement
        ["StorageOpt"] = new(Kind.StringMap, false, "--storage-opt"),
        ["Tmpfs"] = new(Kind.StringMap, true),
        ["UTSMode"] = new(Kind.String, false, "--uts", null, HostNamespace, ["host"]),
        ["UsernsMode"] = new(Kind.String, false, "--userns", ["host"]), // no user namespace: "host" is what runs
        ["ShmSize"] = new(Kind.Integer, true),
        ["Sysctls"] = new(Kind.StringMap, true),
        ["Runtime"] = new(Kind.String, false, "--runtime", ["containervm"]),
        ["Isolation"] = new(Kind.String, false, "--isolation", ["default"]),
        ["CpuShares"] = new(Kind.Integer, true),
        ["Memory"] = new(Kind.Integer, true),
        ["NanoCpus"] = new(Kind.Integer, true),
        ["CgroupParent"] = new(Kind.String, false, "--cgroup-parent"),
        ["BlkioWeight"] = new(Kind.Integer, false, "--blkio-weight", null, NoCgroupLimit),
        ["BlkioWeightDevice"] = new(Kind.ObjectList, false, "--blkio-weight-device", null, NoCgroupLimit),
        ["BlkioDeviceReadBps"] = new(Kind.ObjectList, false, "--device-read-bps", null, NoCgroupLimit),
        ["BlkioDeviceWriteBps"] = new(Kind.ObjectList, false, "--device-write-bps", null, NoCgroupLimit),
        ["BlkioDeviceReadIOps"] = new(Kind.ObjectList, false, "--device-read-iops", null, NoCgroupLimit),
        ["BlkioDeviceWriteIOps"] = new(Kind.ObjectList, false, "--device-write-iops", null, NoCgroupLimit),
        ["CpuPeriod"] = new(Kind.Integer, true),
        ["CpuQuota"] = new(Kind.Integer, true),
        ["CpuRealtimePeriod"] = new(Kind.Integer, false, "--cpu-rt-period"),
        ["CpuRealtimeRuntime"] = new(Kind.Integer, false, "--cpu-rt-runtime"),
        ["CpusetCpus"] = new(Kind.String, true),
        ["CpusetMems"] = new(Kind.String, true),
        ["Devices"] = new(Kind.ObjectList, true),
        ["DeviceCgroupRules"] = new(Kind.StringList, true), // checked in ContainerConfinement
        ["DeviceRequests"] = new(Kind.ObjectList, false, "--gpus"),
        ["KernelMemory"] = new(Kind.Integer, false, "--kernel-memory", null, NoCgroupLimit),
        ["KernelMemoryTCP"] = new(Kind.Integer, false, "--kernel-memory-tcp", null, NoCgroupLimit),
        ["MemoryReservation"] = new(Kind.Integer, false, "--memory-reservation", null, NoCgroupLimit),
        ["MemorySwap"] = new(Kind.Integer, false, "--memory-swap", null, "discarded: a ContainerVM has no swap; its memory is limited to -m"),
        ["MemorySwappiness"] = new(Kind.Integer, false, "--memory-swappiness", ["-1"], "discarded: a ContainerVM has no swap"),
        ["OomKillDisable"] = new(Kind.Bool, false, "--oom-kill-disable", null, "discarded: a ContainerVM out of memory has its own kernel's OOM killer choose in it"),
        ["Init"] = new(Kind.Bool, true),
        ["PidsLimit"] = new(Kind.Integer, true),
        ["Ulimits"] = new(Kind.ObjectList, true),
        ["CpuCount"] = new(Kind.Integer, false, "--cpu-count"),
        ["CpuPercent"] = new(Kind.Integer, false, "--cpu-percent"),
        ["IOMaximumIOps"] = new(Kind.Integer, false, "--io-maxiops"),
        ["IOMaximumBandwidth"] = new(Kind.Integer, false, "--io-maxbandwidth"),
        ["MaskedPaths"] = new(Kind.StringList, false, "--security-opt systempaths=unconfined"),
        ["ReadonlyPaths"] = new(Kind.StringList, false, "--security-opt systempaths=unconfined"),
    };

    /// <summary>
    /// Throws 400 for a field of the wrong JSON type or one the VCH cannot honour; unknown fields
    /// pass, as dockerd lets them. Returns the warnings for fields taken but moot in a VM.
    /// </summary>
    public static List<string> Check(JsonElement body)
    {
        var warnings = new List<string>();
        CheckObject(body, "Config", ConfigFields, warnings);
        if (body.TryGetProperty("HostConfig", out var host) && host.ValueKind == JsonValueKind.Object)
        {
            CheckObject(host, "HostConfig", HostConfigFields, warnings);
            CheckLogConfig(host);
            CheckMounts(host);
        }

        return warnings;
    }

    private static void CheckObject(JsonElement element, string owner, Dictionary<string, Field> fields, List<string> warnings)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (!fields.TryGetValue(property.Name, out var field))
            {
                continue;
            }

            var path = $"{owner}.{property.Name}";
            CheckKind(property.Value, field.Kind, path);
            var unset = field.Kind == Kind.StringMap
                ? property.Value.ValueKind == JsonValueKind.Null || !property.Value.EnumerateObject().Any() // a key alone is a request: --tmpfs /run is {"/run": ""}
                : IsDefault(property.Value, field.AlsoDefault);
            if (unset)
            {
                continue;
            }

            if (field.Warning is not null && (field.WarnedValues is null || (property.Value.ValueKind == JsonValueKind.String && field.WarnedValues.Contains(property.Value.GetString()))))
            {
                warnings.Add($"{field.Flag} {(field.WarnedValues is null ? "" : property.Value.GetString() + ": ")}{field.Warning}");
            }
            else if (!field.Honoured)
            {
                throw Unsupported(path, field.Flag, property.Value);
            }
        }
    }

    private static void CheckLogConfig(JsonElement host)
    {
        if (!host.TryGetProperty("LogConfig", out var log) || log.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        if (log.TryGetProperty("Type", out var type))
        {
            CheckKind(type, Kind.String, "HostConfig.LogConfig.Type");
        }

        if (log.TryGetProperty("Config", out var options))
        {
            CheckKind(options, Kind.StringMap, "HostConfig.LogConfig.Config");
        }
    }

    private static void CheckMounts(JsonElement host)
    {
        if (!host.TryGetProperty("Mounts", out var mounts) || mounts.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        foreach (var mount in mounts.EnumerateArray())
        {
            var type = mount.TryGetProperty("Type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (type is not ("bind" or "volume" or "tmpfs"))
            {
                throw PortLayerException.InvalidParameter($"mount type \"{type}\" (--mount type={type}) is not supported by this VCH: it mounts volumes, binds and tmpfs");
            }

            if (type == "tmpfs" && mount.TryGetProperty("TmpfsOptions", out var tmpfs) && tmpfs.ValueKind == JsonValueKind.Object)
            {
                foreach (var option in tmpfs.EnumerateObject().Where(o => o.Name is not ("SizeBytes" or "Mode") && !IsDefault(o.Value, null)))
                {
                    throw Unsupported($"HostConfig.Mounts.TmpfsOptions.{option.Name}", "--mount type=tmpfs");
                }
            }

            if (type == "volume" && mount.TryGetProperty("VolumeOptions", out var volume) && volume.ValueKind == JsonValueKind.Object)
            {
                foreach (var option in volume.EnumerateObject().Where(o => o.Name != "Labels" && !IsDefault(o.Value, null)))
                {
                    throw Unsupported($"HostConfig.Mounts.VolumeOptions.{option.Name}", "--mount volume-opt");
                }
            }

            foreach (var option in new[] { "BindOptions", "Consistency" })
            {
                if (mount.TryGetProperty(option, out var value) && !IsDefault(value, option == "Consistency" ? ["default", "consistent"] : null))
                {
                    throw Unsupported($"HostConfig.Mounts.{option}", "--mount " + option.Replace("Options", "-opt", StringComparison.Ordinal).ToLowerInvariant());
                }
            }
        }
    }

    private static PortLayerException Unsupported(string path, string? flag, JsonElement? value = null) =>
        PortLayerException.InvalidParameter($"{path}{(value is { ValueKind: JsonValueKind.String } v ? $" \"{v.GetString()}\"" : "")}{(flag is null ? "" : $" ({flag})")} is not supported by this VCH");

    /// <summary>The value a client sends when the option was not used: null, false, 0, "", [], {} (or objects of such), or a listed equivalent.</summary>
    private static bool IsDefault(JsonElement value, string[]? alsoDefault) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined or JsonValueKind.False => true,
        JsonValueKind.Number => value.GetRawText() == "0" || (alsoDefault?.Contains(value.GetRawText()) ?? false),
        JsonValueKind.String => value.GetString() is "" || (alsoDefault?.Contains(value.GetString()) ?? false),
        JsonValueKind.Array => value.EnumerateArray().All(v => IsDefault(v, null)),
        JsonValueKind.Object => value.EnumerateObject().All(p => IsDefault(p.Value, null)),
        _ => false,
    };

    /// <summary>dockerd's decoder refuses a value of the wrong JSON type; so does this, in its words.</summary>
    private static void CheckKind(JsonElement value, Kind kind, string path)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        var ok = kind switch
        {
            Kind.String => value.ValueKind == JsonValueKind.String,
            Kind.Bool => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
            Kind.Integer => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
            Kind.StringList => value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String),
            Kind.StringOrList => value.ValueKind == JsonValueKind.String || (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String)),
            Kind.StringMap => value.ValueKind == JsonValueKind.Object && value.EnumerateObject().All(p => p.Value.ValueKind is JsonValueKind.String or JsonValueKind.Null),
            Kind.Object => value.ValueKind == JsonValueKind.Object,
            Kind.ObjectList => value.ValueKind == JsonValueKind.Array,
            _ => true,
        };
        if (!ok)
        {
            // Inside a list or map of the right shape, the member at fault is what dockerd names.
            var culprit = kind switch
            {
                Kind.StringMap when value.ValueKind == JsonValueKind.Object => value.EnumerateObject().Select(p => p.Value).First(v => v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)),
                Kind.StringList or Kind.StringOrList when value.ValueKind == JsonValueKind.Array => value.EnumerateArray().First(v => v.ValueKind != JsonValueKind.String),
                _ => value,
            };
            var found = culprit.ValueKind switch
            {
                JsonValueKind.Number => "number",
                JsonValueKind.String => "string",
                JsonValueKind.True or JsonValueKind.False => "bool",
                JsonValueKind.Array => "array",
                _ => "object",
            };
            var expected = kind switch
            {
                Kind.String => "string",
                Kind.Bool => "bool",
                Kind.Integer => "int64",
                Kind.StringList or Kind.StringOrList => "[]string",
                Kind.StringMap => "map[string]string",
                Kind.ObjectList => "[]object",
                _ => "object",
            };
            throw PortLayerException.InvalidParameter($"json: cannot unmarshal {found} into Go struct field {path} of type {expected}");
        }
    }
}
