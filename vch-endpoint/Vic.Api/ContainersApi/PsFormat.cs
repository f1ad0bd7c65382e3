using System.Globalization;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;

namespace Vic.Api.ContainersApi;

/// <summary>
/// <c>docker top CONTAINER [ps OPTIONS]</c>: dockerd runs the host's ps with them; a VCH has no
/// host ps beside the container, so the forms people use are laid out here from the guest's
/// /proc: <c>-ef</c> (the default), BSD <c>aux</c>, and <c>-o</c>/<c>-eo</c> with a list of
/// fields. Anything else is refused by name, never answered with a different table.
/// </summary>
public sealed class PsFormat
{
    private static readonly string[] FullFormat = ["uid", "pid", "ppid", "c", "stime", "tty", "time", "cmd"];
    private static readonly string[] UserFormat = ["user", "pid", "%cpu", "%mem", "vsz", "rss", "tty", "stat", "start", "time", "command"];

    private static readonly Dictionary<string, string> Titles = new(StringComparer.Ordinal)
    {
        ["uid"] = "UID",
        ["user"] = "USER",
        ["pid"] = "PID",
        ["ppid"] = "PPID",
        ["c"] = "C",
        ["stime"] = "STIME",
        ["start"] = "START",
        ["tty"] = "TTY",
        ["tt"] = "TT",
        ["time"] = "TIME",
        ["cmd"] = "CMD",
        ["args"] = "COMMAND",
        ["command"] = "COMMAND",
        ["comm"] = "COMMAND",
        ["%cpu"] = "%CPU",
        ["pcpu"] = "%CPU",
        ["%mem"] = "%MEM",
        ["pmem"] = "%MEM",
        ["vsz"] = "VSZ",
        ["rss"] = "RSS",
        ["stat"] = "STAT",
        ["s"] = "S",
        ["etime"] = "ELAPSED",
    };

    private readonly string[] _fields;

    private PsFormat(string[] fields) => _fields = fields;

    public IReadOnlyList<string> ColumnTitles => [.. _fields.Select(f => Titles[f])];

    /// <summary>Reads <c>ps_args</c>; 400 naming it for a form this VCH does not lay out.</summary>
    public static PsFormat Parse(string? psArgs)
    {
        var words = (psArgs ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0 || (words.Length == 1 && words[0] is "-ef" or "-e" or "-f" or "-A" or "-eF" or "ef"))
        {
            return new PsFormat(FullFormat);
        }

        if (words.Length == 1 && words[0].TrimStart('-') is "aux" or "au" or "ux" or "axu" or "uax" or "u")
        {
            return new PsFormat(UserFormat);
        }

        if (words.Length == 2 && words[0] is "-o" or "-eo" or "o" or "-Ao" or "axo")
        {
            var fields = words[1].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Split('=')[0]).ToArray();
            if (fields.FirstOrDefault(f => !Titles.ContainsKey(f)) is { } unknown)
            {
                throw PortLayerException.InvalidParameter($"ps_args \"{psArgs}\": unknown ps field \"{unknown}\"; this VCH lays out {string.Join(", ", Titles.Keys)}");
            }

            if (!fields.Contains("pid"))
            {
                throw PortLayerException.InvalidParameter("Couldn't find PID field in ps output");
            }

            return new PsFormat(fields);
        }

        throw PortLayerException.InvalidParameter($"ps_args \"{psArgs}\" are not supported by this VCH: it lays out -ef, aux, and -o with a list of fields");
    }

    public IReadOnlyList<string> Row(ContainerProcess p, DateTime today) => [.. _fields.Select(f => Cell(f, p, today))];

    private static string Cell(string field, ContainerProcess p, DateTime today)
    {
        var started = p.StartedAt.UtcDateTime;
        var time = p.CpuTime;
        return field switch
        {
            "uid" or "user" => p.User,
            "pid" => Number(p.Pid),
            "ppid" => Number(p.ParentPid),
            "c" => Number((int)p.CpuPercent),
            "stime" or "start" => started.Date == today ? started.ToString("HH:mm", CultureInfo.InvariantCulture) : started.ToString("MMMdd", CultureInfo.InvariantCulture),
            "tty" or "tt" => p.Tty,
            "time" => $"{(int)time.TotalHours:00}:{time.Minutes:00}:{time.Seconds:00}",
            "cmd" or "args" or "command" => p.Command,
            "comm" => p.Command.Split(' ')[0].Split('/')[^1],
            "%cpu" or "pcpu" => p.CpuPercent.ToString("0.0", CultureInfo.InvariantCulture),
            "%mem" or "pmem" => p.MemPercent.ToString("0.0", CultureInfo.InvariantCulture),
            "vsz" => Number(p.VszKb),
            "rss" => Number(p.RssKb),
            "stat" => p.Stat,
            "s" => p.Stat.Length > 0 ? p.Stat[..1] : "?",
            "etime" => Elapsed(DateTimeOffset.UtcNow - p.StartedAt),
            _ => "",
        };
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Elapsed(TimeSpan span) =>
        span.TotalDays >= 1 ? $"{(int)span.TotalDays}-{span.Hours:00}:{span.Minutes:00}:{span.Seconds:00}"
        : span.TotalHours >= 1 ? $"{(int)span.TotalHours:00}:{span.Minutes:00}:{span.Seconds:00}"
        : $"{span.Minutes:00}:{span.Seconds:00}";
}
