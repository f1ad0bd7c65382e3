using System.Globalization;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Containers;

/// <summary>
/// Where a container's output is kept (<c>--log-driver</c>, <c>--log-opt</c>): <c>json-file</c>
/// (dockerd's default, a file of JSON lines, rotated at <c>max-size</c> into <c>max-file</c> files),
/// <c>local</c> (kept the same way, rotated as dockerd's local driver is by default: 20 MiB, 5 files),
/// <c>syslog</c> (each line sent to a syslog server, <see cref="SyslogTarget"/>, and kept in a cache
/// as dockerd's dual logging keeps it, 20 MiB in 5 files unless <c>cache-*</c> say otherwise, so
/// <c>docker logs</c> reads it) or <c>none</c> (nothing kept; attach still streams it).
/// </summary>
/// <param name="MaxSizeBytes">The size a log file is rotated at; -1 never rotates.</param>
/// <param name="MaxFiles">How many files (the current one and rotated ones) are kept.</param>
public sealed record LogSettings(string Driver, long MaxSizeBytes, int MaxFiles, IReadOnlyDictionary<string, string> Options)
{
    public static readonly LogSettings Default = new("json-file", -1, 1, new Dictionary<string, string>());

    /// <summary>Whether <c>docker logs</c> can read what this driver keeps.</summary>
    public bool Readable => Driver != "none" && !(Driver == "syslog" && Options.GetValueOrDefault("cache-disabled") == "true");

    /// <summary>Where the syslog driver sends each line; null for the drivers that only keep it.</summary>
    public SyslogTarget? Syslog => Driver == "syslog" ? SyslogTarget.Parse(Options) : null;

    /// <summary>Validates a driver and its options as dockerd does, naming the flag in errors.</summary>
    public static LogSettings Parse(string? driver, IReadOnlyDictionary<string, string> options)
    {
        driver = string.IsNullOrEmpty(driver) ? "json-file" : driver;
        switch (driver)
        {
            case "none":
                if (options.Count > 0)
                {
                    throw PortLayerException.InvalidParameter($"unknown log opt '{options.Keys.First()}' for none log driver (--log-opt)");
                }

                return new LogSettings("none", -1, 1, options);
            case "json-file" or "local":
                var unknown = options.Keys.FirstOrDefault(k => k is not ("max-size" or "max-file"));
                if (unknown is not null)
                {
                    throw PortLayerException.InvalidParameter($"unknown log opt '{unknown}' for {driver} log driver (--log-opt): this VCH honours max-size and max-file");
                }

                var local = driver == "local";
                var size = options.TryGetValue("max-size", out var s) ? Size(s) : local ? 20L << 20 : -1;
                var files = options.TryGetValue("max-file", out var f) ? Files(f) : local ? 5 : 1;
                // json-file's max-file without max-size keeps one file that never rotates, as dockerd does.
                return new LogSettings(driver, size, files, options);
            case "syslog":
                var target = SyslogTarget.Parse(options);
                // dockerd would use its host's local syslog; a VCH's containers have none to share.
                if (string.IsNullOrWhiteSpace(options.GetValueOrDefault("syslog-address")))
                {
                    throw PortLayerException.InvalidParameter("syslog-address is required: a VCH has no local syslog for its containers' logs; give udp://, tcp://, unix:// or unixgram:// (--log-opt)");
                }

                if (target.Protocol is "unix" or "unixgram" && !File.Exists(target.Address))
                {
                    throw PortLayerException.InvalidParameter($"syslog-address {target.Protocol}://{target.Address}: no such socket on the VCH's endpoint (--log-opt)");
                }

                if (options.TryGetValue("cache-disabled", out var disabled) && disabled is not ("true" or "false"))
                {
                    throw PortLayerException.InvalidParameter($"invalid value for cache-disabled: {disabled}: true or false (--log-opt)");
                }

                // dockerd's dual logging: what the server is sent is also kept for `docker logs`, 20 MiB in 5 files unless told.
                return new LogSettings(
                    driver,
                    options.TryGetValue("cache-max-size", out var cacheSize) ? Size(cacheSize) : 20L << 20,
                    options.TryGetValue("cache-max-file", out var cacheFiles) ? Files(cacheFiles) : 5,
                    options);
            case "journald" or "gelf" or "fluentd" or "awslogs" or "splunk" or "etwlogs" or "gcplogs" or "logentries":
                throw PortLayerException.InvalidParameter($"the log driver \"{driver}\" (--log-driver) is not supported by this VCH: it keeps logs as json-file or local, sends them to syslog, or keeps none (none)");
            default:
                // dockerd's words for a driver no one has registered.
                throw PortLayerException.InvalidParameter($"logger: no log driver named '{driver}' is registered");
        }
    }

    /// <summary>Docker's sizes: a number with an optional k, m or g (powers of 1024).</summary>
    private static long Size(string text)
    {
        var trimmed = text.Trim().ToLowerInvariant().TrimEnd('b', 'i');
        var unit = trimmed.Length > 0 && char.IsLetter(trimmed[^1]) ? trimmed[^1] : ' ';
        var number = unit == ' ' ? trimmed : trimmed[..^1];
        var shift = unit switch { ' ' => 0, 'k' => 10, 'm' => 20, 'g' => 30, _ => -1 };
        if (shift < 0 || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
        {
            throw PortLayerException.InvalidParameter($"invalid max-size {text}: a positive size such as 10m (--log-opt)");
        }

        return value << shift;
    }

    private static int Files(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var files) && files >= 1
            ? files
            : throw PortLayerException.InvalidParameter($"invalid max-file {text}: at least 1 (--log-opt)");

    public bool Equals(LogSettings? other) =>
        other is not null && (Driver, MaxSizeBytes, MaxFiles) == (other.Driver, other.MaxSizeBytes, other.MaxFiles)
        && Options.Count == other.Options.Count && Options.All(o => other.Options.TryGetValue(o.Key, out var v) && v == o.Value);

    public override int GetHashCode() => HashCode.Combine(Driver, MaxSizeBytes, MaxFiles);
}
