using System.Globalization;
using System.Text.RegularExpressions;

namespace Vic.Machine;

/// <summary>
/// VIC's <c>--timeout</c>: how long an operation may take, in Go's duration form (<c>3m0s</c>,
/// <c>90s</c>, <c>1h30m</c>). VIC's default was 3 minutes; ours is 10, since an ISO upload and the
/// first template of a busy host take longer than VIC's appliance boot did.
/// </summary>
public static partial class OperationTimeout
{
    public static readonly TimeSpan Default = TimeSpan.FromMinutes(10);

    public static TimeSpan Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return Default;
        }

        var match = GoDuration().Match(text);
        if (!match.Success || text == "0" || match.Groups["part"].Captures.Count == 0)
        {
            throw new MachineException($"--timeout '{text}': a duration such as 3m0s, 90s or 1h30m");
        }

        var total = TimeSpan.Zero;
        for (var i = 0; i < match.Groups["value"].Captures.Count; i++)
        {
            var value = double.Parse(match.Groups["value"].Captures[i].Value, CultureInfo.InvariantCulture);
            total += match.Groups["unit"].Captures[i].Value switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                "ms" => TimeSpan.FromMilliseconds(value),
                _ => throw new MachineException($"--timeout '{text}': unknown unit"),
            };
        }

        return total > TimeSpan.Zero ? total : throw new MachineException($"--timeout '{text}' must be more than nothing");
    }

    /// <summary>As Go prints a duration: <c>3m0s</c>.</summary>
    public static string Format(TimeSpan timeout) =>
        (timeout.TotalHours >= 1 ? $"{(int)timeout.TotalHours}h" : "") + (timeout.TotalMinutes >= 1 ? $"{timeout.Minutes}m" : "") + $"{timeout.Seconds}s";

    [GeneratedRegex(@"^(?<part>(?<value>\d+(?:\.\d+)?)(?<unit>h|ms|m|s))+$", RegexOptions.CultureInvariant)]
    private static partial Regex GoDuration();
}
