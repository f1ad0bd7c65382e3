using Vic.Interaction;

namespace Vic.PortLayer.Runtime;

/// <summary>A sample of a container's figures for <c>docker stats</c>, read in its ContainerVM at <see cref="ReadAt"/>.</summary>
public sealed record ContainerStats(
    DateTimeOffset ReadAt,
    int Cpus,
    long CpuNanoseconds,
    long MemoryUsedBytes,
    long MemoryTotalBytes,
    long NetworkRxBytes,
    long NetworkTxBytes,
    long BlockReadBytes,
    long BlockWriteBytes,
    int Processes)
{
    internal static ContainerStats From(StatsReport report, DateTimeOffset readAt, int cpus) =>
        new(readAt, cpus, report.CpuNanoseconds, report.MemoryUsedBytes, report.MemoryTotalBytes, report.NetworkRxBytes, report.NetworkTxBytes, report.BlockReadBytes, report.BlockWriteBytes, report.Processes);
}

/// <summary>One process of a container for <c>docker top</c>.</summary>
public sealed record ContainerProcess(int Pid, int ParentPid, string User, string Tty, DateTimeOffset StartedAt, TimeSpan CpuTime, string Command)
{
    public int Uid { get; init; }

    /// <summary>ps's STAT: the state letter, with "s" for a session leader.</summary>
    public string Stat { get; init; } = "";

    public long VszKb { get; init; }

    public long RssKb { get; init; }

    /// <summary>ps's %CPU: CPU time over the time it has been alive.</summary>
    public double CpuPercent { get; init; }

    /// <summary>ps's %MEM: resident memory over the guest's.</summary>
    public double MemPercent { get; init; }

    internal static IReadOnlyList<ContainerProcess> From(ProcessList list)
    {
        var booted = DateTimeOffset.FromUnixTimeSeconds(list.BootedAt);
        return [.. list.Processes.Select(p => new ContainerProcess(p.Pid, p.ParentPid, p.User, p.Tty, booted.AddSeconds(p.StartedAt), TimeSpan.FromSeconds(p.CpuSeconds), p.Command)
        {
            Uid = p.Uid,
            Stat = p.State + (p.SessionLeader ? "s" : ""),
            VszKb = p.VszKb,
            RssKb = p.RssKb,
            CpuPercent = list.Uptime > p.StartedAt ? Math.Round(100.0 * p.CpuSeconds / (list.Uptime - p.StartedAt), 1) : 0,
            MemPercent = list.MemTotalKb > 0 ? Math.Round(100.0 * p.RssKb / list.MemTotalKb, 1) : 0,
        })];
    }
}

/// <summary>A path in a container as <c>docker cp</c> describes it; <see cref="Mode"/> uses Go's os.FileMode bits.</summary>
public sealed record ContainerPathStat(string Name, long Size, uint Mode, DateTimeOffset Mtime, string LinkTarget)
{
    /// <summary>The owner's uid and gid (0 from a tether too old to say).</summary>
    public int Uid { get; init; }

    public int Gid { get; init; }

    public bool IsDirectory => (Mode & GoModeDir) != 0;

    public bool IsSymlink => (Mode & GoModeSymlink) != 0;

    /// <summary>The permission bits with setuid, setgid and sticky, as a tar header has them (Go keeps those three elsewhere).</summary>
    public UnixFileMode UnixMode =>
        (UnixFileMode)(Mode & 0x1FF)
        | ((Mode & (1u << 23)) != 0 ? UnixFileMode.SetUser : 0)
        | ((Mode & (1u << 22)) != 0 ? UnixFileMode.SetGroup : 0)
        | ((Mode & (1u << 20)) != 0 ? UnixFileMode.StickyBit : 0);

    private const uint GoModeDir = 1u << 31;
    private const uint GoModeSymlink = 1u << 27;

    internal static ContainerPathStat From(PathStat stat) => new(stat.Name, stat.Size, stat.Mode, stat.Mtime, stat.LinkTarget) { Uid = stat.Uid, Gid = stat.Gid };
}

/// <summary>What <c>docker diff</c> calls a change; the numbers are Docker's.</summary>
public enum ChangeKind
{
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

/// <summary>One change of a container's writable layer.</summary>
public sealed record ContainerChange(string Path, ChangeKind Kind);
