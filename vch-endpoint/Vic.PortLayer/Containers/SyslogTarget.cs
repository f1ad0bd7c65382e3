using System.Globalization;
using System.Text;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Containers;

/// <summary>
/// The syslog log driver's options (<c>--log-opt</c>), validated as dockerd validates them, and its
/// messages written as dockerd's driver writes them: one per line of output, stdout at severity
/// info and stderr at err, in the format <c>syslog-format</c> names, ending in a newline (which
/// frames it on TCP).
/// </summary>
/// <param name="Protocol">udp, tcp, unix or unixgram.</param>
/// <param name="Address">host:port, or a socket's path.</param>
/// <param name="Facility">The facility's number (daemon, 3, unless <c>syslog-facility</c> says).</param>
/// <param name="Format">"" (dockerd's default, the local syslog's form), rfc3164, rfc5424 or rfc5424micro.</param>
/// <param name="Tag">The tag's template (<c>{{.ID}}</c> unless <c>tag</c> says).</param>
public sealed record SyslogTarget(string Protocol, string Address, int Facility, string Format, string Tag)
{
    private static readonly string[] Options =
    [
        "env", "env-regex", "labels", "labels-regex", "syslog-address", "syslog-facility", "syslog-tls-ca-cert", "syslog-tls-cert",
        "syslog-tls-key", "syslog-tls-skip-verify", "tag", "syslog-format", "cache-disabled", "cache-max-size", "cache-max-file", "cache-compress",
    ];

    private static readonly string[] Facilities =
    [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
        "", "", "", "", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    ];

    /// <summary>The fields a tag may name, as dockerd's log tag templates name them.</summary>
    private static readonly string[] TagFields = ["ID", "FullID", "Name", "ImageID", "ImageFullID", "ImageName", "DaemonName"];

    public static SyslogTarget Parse(IReadOnlyDictionary<string, string> options)
    {
        if (options.Keys.FirstOrDefault(k => !Options.Contains(k)) is { } unknown)
        {
            throw PortLayerException.InvalidParameter($"unknown log opt '{unknown}' for syslog log driver (--log-opt)");
        }

        if (options.Keys.FirstOrDefault(k => k.StartsWith("syslog-tls-", StringComparison.Ordinal)) is { } tls)
        {
            throw PortLayerException.InvalidParameter($"log opt '{tls}': this VCH sends syslog over udp, tcp, unix and unixgram, not tcp+tls (--log-opt)");
        }

        var (protocol, address) = ParseAddress(options.GetValueOrDefault("syslog-address") ?? "");
        var facility = ParseFacility(options.GetValueOrDefault("syslog-facility") ?? "daemon");
        var format = options.GetValueOrDefault("syslog-format") ?? "";
        if (format is not ("" or "rfc3164" or "rfc5424" or "rfc5424micro"))
        {
            throw PortLayerException.InvalidParameter($"Invalid syslog format: {format} (--log-opt syslog-format: rfc3164, rfc5424 or rfc5424micro)");
        }

        var tag = options.GetValueOrDefault("tag") ?? "{{.ID}}";
        ExpandTag(tag, "0123456789ab0123456789ab0123456789ab0123456789ab0123456789ab0123", "name", "sha256:0", "image");
        return new SyslogTarget(protocol, address, facility, format, tag);
    }

    /// <summary>The tag for one container: its template's fields filled in.</summary>
    public static string ExpandTag(string template, string id, string name, string imageId, string imageName)
    {
        // dockerd's TruncateID: what follows the algorithm, 12 characters of it; the full ID keeps "sha256:".
        var hex = imageId[(imageId.IndexOf(':', StringComparison.Ordinal) + 1)..];
        var values = new Dictionary<string, string>
        {
            ["ID"] = id[..Math.Min(12, id.Length)],
            ["FullID"] = id,
            ["Name"] = name.TrimStart('/'),
            ["ImageID"] = hex[..Math.Min(12, hex.Length)],
            ["ImageFullID"] = imageId,
            ["ImageName"] = imageName,
            ["DaemonName"] = "docker",
        };
        var tag = new StringBuilder();
        var rest = template.AsSpan();
        while (rest.Length > 0)
        {
            var open = rest.IndexOf("{{", StringComparison.Ordinal);
            if (open < 0)
            {
                tag.Append(rest);
                break;
            }

            tag.Append(rest[..open]);
            var close = rest[open..].IndexOf("}}", StringComparison.Ordinal);
            var field = close < 0 ? "" : rest[(open + 2)..(open + close)].Trim().ToString();
            if (close < 0 || !field.StartsWith('.') || !TagFields.Contains(field[1..]))
            {
                throw PortLayerException.InvalidParameter($"invalid tag '{template}': a template of {string.Join(", ", TagFields.Select(f => "{{." + f + "}}"))} and text (--log-opt tag)");
            }

            tag.Append(values[field[1..]]);
            rest = rest[(open + close + 2)..];
        }

        return tag.ToString();
    }

    /// <summary>
    /// One line of output as a syslog message. <paramref name="time"/> is written with its own offset
    /// (the sender gives local time, as dockerd's messages carry); <paramref name="hostname"/> is the
    /// VCH's host and <paramref name="pid"/> the endpoint's, as dockerd's messages carry its own.
    /// </summary>
    /// <param name="severity">Syslog's: 3 (err) for stderr and 6 (info) for stdout, as dockerd's driver sends them.</param>
    public string Message(int severity, string tag, string line, DateTimeOffset time, string hostname, int pid)
    {
        var priority = (Facility * 8) + severity;
        var content = line.EndsWith('\n') ? line : line + "\n";
        return Format switch
        {
            "rfc3164" => string.Create(CultureInfo.InvariantCulture, $"<{priority}>{Stamp(time)} {hostname} {tag}[{pid}]: {content}"),
            "rfc5424" => string.Create(CultureInfo.InvariantCulture, $"<{priority}>1 {Rfc3339(time, "")} {hostname} {tag} {pid} {tag} - {content}"),
            "rfc5424micro" => string.Create(CultureInfo.InvariantCulture, $"<{priority}>1 {Rfc3339(time, ".ffffff")} {hostname} {tag} {pid} {tag} - {content}"),
            _ => string.Create(CultureInfo.InvariantCulture, $"<{priority}>{Stamp(time)} {tag}[{pid}]: {content}"),
        };
    }

    /// <summary>Go's RFC 3339: "Z" for UTC, else the offset.</summary>
    private static string Rfc3339(DateTimeOffset time, string fraction) =>
        time.ToString("yyyy-MM-ddTHH:mm:ss" + fraction, CultureInfo.InvariantCulture) + (time.Offset == TimeSpan.Zero ? "Z" : time.ToString("zzz", CultureInfo.InvariantCulture));

    /// <summary>Go's time.Stamp, "Jan _2 15:04:05": the day padded with a space.</summary>
    private static string Stamp(DateTimeOffset time) =>
        string.Create(CultureInfo.InvariantCulture, $"{time:MMM} {time.Day,2} {time:HH:mm:ss}");

    /// <summary>
    /// The endpoint's own log sent to a syslog server (VIC's <c>--syslog-address</c>): facility
    /// daemon, RFC 5424, tagged <paramref name="tag"/>.
    /// </summary>
    public static SyslogTarget ForEndpoint(string address, string tag)
    {
        var (protocol, where) = ParseAddress(address, "--syslog-address");
        return new SyslogTarget(protocol, where, 3, "rfc5424", tag);
    }

    /// <summary>dockerd's syslog-address: proto://address, a port of 514 when a network one names none; local syslog (/dev/log) when empty.</summary>
    private static (string Protocol, string Address) ParseAddress(string address, string option = "--log-opt")
    {
        if (address.Length == 0)
        {
            return ("unixgram", "/dev/log");
        }

        var separator = address.IndexOf("://", StringComparison.Ordinal);
        var protocol = separator < 0 ? "" : address[..separator];
        var rest = separator < 0 ? "" : address[(separator + 3)..];
        switch (protocol)
        {
            case "unix" or "unixgram" when rest.Length > 0:
                return (protocol, rest);
            case "udp" or "tcp" when rest.Length > 0:
                if (!Uri.TryCreate($"{protocol}://{rest}", UriKind.Absolute, out var uri) || uri.Host.Length == 0 || uri.AbsolutePath is not ("" or "/"))
                {
                    break;
                }

                return (protocol, $"{uri.Host}:{(uri.IsDefaultPort || uri.Port < 0 ? 514 : uri.Port)}");
            case "tcp+tls":
                throw PortLayerException.InvalidParameter($"syslog-address {address}: this VCH sends syslog over udp, tcp, unix and unixgram, not tcp+tls ({option})");
        }

        throw PortLayerException.InvalidParameter($"syslog-address should be in form proto://address, got {address} ({option})");
    }

    private static int ParseFacility(string facility)
    {
        var named = Array.IndexOf(Facilities, facility);
        if (facility.Length > 0 && named >= 0)
        {
            return named;
        }

        return int.TryParse(facility, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number is >= 0 and <= 23
            ? number
            : throw PortLayerException.InvalidParameter($"invalid syslog facility {facility} (--log-opt syslog-facility: kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0-local7, or 0-23)");
    }
}
