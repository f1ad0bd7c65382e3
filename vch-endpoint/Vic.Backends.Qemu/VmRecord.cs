using System.Text.Json;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>
/// What the backend keeps about one ContainerVM in its folder, so a restarted endpoint finds every
/// VM again: its spec, how it was started, and the QEMU pid while it runs.
/// </summary>
internal sealed record VmRecord
{
    public required string VmId { get; init; }

    public required string Name { get; init; }

    public required VmResources Resources { get; init; }

    public required IReadOnlyList<DiskAttachment> Disks { get; init; }

    public required IReadOnlyDictionary<string, string> ExtraConfig { get; init; }

    /// <summary>How the VM is wired; null for a VM with its NICs unplugged (<c>--network none</c>).</summary>
    public VmNetworkSpec? Network { get; init; }

    /// <summary>Host folders shared with the VM, plugged in at every start.</summary>
    public IReadOnlyList<SharedFolder> Shares { get; init; } = [];

    public ProvisioningPath Provisioning { get; init; } = ProvisioningPath.ColdBoot;

    /// <summary>
    /// The SCSI target of each disk (by id) in the running VM. A start places the spec's disk i at
    /// <see cref="QemuCommand.ScsiTarget"/>(i), where the tether looks; a disk attached later takes
    /// the lowest free target, and one detached frees its own.
    /// </summary>
    public IReadOnlyDictionary<string, int> ScsiTargets { get; init; } = new Dictionary<string, int>();

    public int? Pid { get; init; }

    /// <summary>
    /// The folder QEMU was started in when that is not this VM's own: a ready clone started in the
    /// ready pool's folder and moved here. QEMU's command line names it, which tells its pid from a reused one.
    /// </summary>
    public string? LaunchedIn { get; init; }

    public DateTimeOffset? StartedAt { get; init; }
}

/// <summary>The folder of one VM: its record, sockets, pid file and console log.</summary>
internal sealed record VmFolder(string Path)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // The monitor reads every VM's record ten times a second; a record is parsed again only when its
    // file changed (each write replaces the file, so its change time and size say so).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (DateTime Changed, long Length, VmRecord Record)> Parsed = new();

    public string RecordFile => System.IO.Path.Combine(Path, "vm.json");

    public string Qmp => System.IO.Path.Combine(Path, "qmp.sock");

    public string Channel => System.IO.Path.Combine(Path, "channel.sock");

    /// <summary>The bridge NIC's end of the bridge segment: QEMU receives its frames here.</summary>
    public string BridgeNic => System.IO.Path.Combine(Path, "bridge-nic.sock");

    public string PidFile => System.IO.Path.Combine(Path, "qemu.pid");

    public string Console => System.IO.Path.Combine(Path, "console.log");

    public VmRecord Read()
    {
        var file = new FileInfo(RecordFile);
        if (file.Exists && Parsed.TryGetValue(RecordFile, out var cached) && cached.Changed == file.LastWriteTimeUtc && cached.Length == file.Length)
        {
            return cached.Record;
        }

        var record = JsonSerializer.Deserialize<VmRecord>(File.ReadAllText(RecordFile), Json)!;
        Parsed[RecordFile] = (file.LastWriteTimeUtc, file.Length, record);
        return record;
    }

    /// <summary>Drops what was parsed of the record: the folder is going.</summary>
    public void Forget() => Parsed.TryRemove(RecordFile, out _);

    public void Write(VmRecord record)
    {
        Directory.CreateDirectory(Path);
        var temp = RecordFile + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(record, Json));
        File.Move(temp, RecordFile, overwrite: true);
    }
}
