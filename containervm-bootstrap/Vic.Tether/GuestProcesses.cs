using System.Globalization;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// The container's processes as /proc shows them, for docker top, pause and unpause. In a VM the
/// tether is PID 1 and every other user-space process is the container's; on a host (tests) only
/// the sessions' processes and their descendants are.
/// </summary>
internal static class GuestProcesses
{
    private const int SigStop = 19;
    private const int SigCont = 18;

    public static ProcessList List(string root, IReadOnlyCollection<int> sessionPids, bool inVm)
    {
        var all = ReadAll();
        var users = ReadUsers(Path.Combine(root, "etc/passwd"));
        var processes = Belonging(all, sessionPids, inVm)
            .Where(p => p.Comm != "vic-exec")
            .Select(p => new GuestProcess(p.Pid, p.ParentPid, p.Uid, users.GetValueOrDefault(p.Uid, p.Uid.ToString(CultureInfo.InvariantCulture)), p.Tty, p.StartedAt, p.CpuSeconds, p.Command)
            {
                State = p.State,
                VszKb = p.VszKb,
                RssKb = p.RssKb,
                SessionLeader = p.SessionLeader,
            })
            .OrderBy(p => p.Pid)
            .ToList();
        return new ProcessList(BootTime(), processes) { Uptime = Uptime(), MemTotalKb = MemTotalKb() };
    }

    /// <summary>Freezes (or thaws) the container: every process at once in a VM, the sessions' trees on a host.</summary>
    public static void Freeze(bool freeze, IReadOnlyCollection<int> sessionPids, bool inVm)
    {
        var signal = freeze ? SigStop : SigCont;
        if (inVm)
        {
            // kill(-1) reaches every process but PID 1 (the tether) in one step, so nothing forks past it.
            Native.kill(-1, signal);
            return;
        }

        foreach (var process in Belonging(ReadAll(), sessionPids, inVm: false))
        {
            Native.kill(process.Pid, signal);
        }
    }

    private static IEnumerable<ProcStat> Belonging(List<ProcStat> all, IReadOnlyCollection<int> sessionPids, bool inVm)
    {
        if (inVm)
        {
            // Kernel threads are kthreadd (2) and its children.
            return all.Where(p => p.Pid > 2 && p.ParentPid != 2);
        }

        var children = all.ToLookup(p => p.ParentPid);
        var byPid = all.ToDictionary(p => p.Pid);
        var found = new List<ProcStat>();
        var pending = new Stack<int>(sessionPids);
        while (pending.Count > 0)
        {
            var pid = pending.Pop();
            if (byPid.TryGetValue(pid, out var process) && !found.Contains(process))
            {
                found.Add(process);
                foreach (var child in children[pid])
                {
                    pending.Push(child.Pid);
                }
            }
        }

        return found;
    }

    private static List<ProcStat> ReadAll()
    {
        var ticks = 100.0;
        var list = new List<ProcStat>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                var comm = stat[(open + 1)..close];
                var fields = stat[(close + 2)..].Split(' ');
                var ttyNumber = int.Parse(fields[4], CultureInfo.InvariantCulture);
                var cpuTicks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                var started = long.Parse(fields[19], CultureInfo.InvariantCulture) / ticks;
                var uidLine = File.ReadLines(Path.Combine(directory, "status")).First(l => l.StartsWith("Uid:", StringComparison.Ordinal));
                var uid = int.Parse(uidLine.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                var cmdline = File.ReadAllText(Path.Combine(directory, "cmdline")).TrimEnd('\0').Replace('\0', ' ');
                list.Add(new ProcStat(pid, int.Parse(fields[1], CultureInfo.InvariantCulture), uid, comm, Tty(ttyNumber), started, (long)(cpuTicks / ticks), cmdline.Length > 0 ? cmdline : $"[{comm}]")
                {
                    State = fields[0],
                    VszKb = long.Parse(fields[20], CultureInfo.InvariantCulture) / 1024,
                    RssKb = long.Parse(fields[21], CultureInfo.InvariantCulture) * 4,
                    SessionLeader = fields[3] == pid.ToString(CultureInfo.InvariantCulture),
                });
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException or IndexOutOfRangeException)
            {
                // The process ended while we read it.
            }
        }

        return list;
    }

    private static string Tty(int number)
    {
        var major = (number >> 8) & 0xfff;
        var minor = (number & 0xff) | ((number >> 12) & 0xfff00);
        return major switch
        {
            0 => "?",
            136 => $"pts/{minor}",
            4 => $"tty{minor}",
            _ => "?",
        };
    }

    private static double Uptime() =>
        double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);

    private static long MemTotalKb() =>
        File.ReadLines("/proc/meminfo").Where(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            .Select(l => long.Parse(l["MemTotal:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture)).FirstOrDefault();

    private static long BootTime() =>
        File.ReadLines("/proc/stat").Where(l => l.StartsWith("btime ", StringComparison.Ordinal))
            .Select(l => long.Parse(l[6..].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();

    private static Dictionary<int, string> ReadUsers(string passwd)
    {
        var users = new Dictionary<int, string>();
        if (!File.Exists(passwd))
        {
            return users;
        }

        foreach (var fields in File.ReadLines(passwd).Select(l => l.Split(':')).Where(f => f.Length > 2))
        {
            if (int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
            {
                users.TryAdd(uid, fields[0]);
            }
        }

        return users;
    }

    private sealed record ProcStat(int Pid, int ParentPid, int Uid, string Comm, string Tty, double StartedAt, long CpuSeconds, string Command)
    {
        public string State { get; init; } = "";

        public long VszKb { get; init; }

        public long RssKb { get; init; }

        public bool SessionLeader { get; init; }
    }
}
