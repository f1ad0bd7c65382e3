using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using Vic.Api.Versioning;

namespace Vic.Api.Hijack;

/// <summary>
/// The head of an HTTP/1.1 request read straight off a connection: enough to frame the request
/// (find where its body ends and the next request begins) and to tell a hijacked Docker call
/// (attach, exec start) from everything else, which Kestrel handles.
/// </summary>
public sealed partial record RequestHead(string Method, string Target, string Path, IReadOnlyDictionary<string, string> Query, IReadOnlyDictionary<string, string> Headers, int HeadLength)
{
    /// <summary>Heads larger than this are not ours to parse; Kestrel will answer them.</summary>
    public const int MaxHeadBytes = 16 * 1024;

    public bool WantsUpgrade => Headers.TryGetValue("upgrade", out var value) && value.Contains("tcp", StringComparison.OrdinalIgnoreCase);

    /// <summary>Any Upgrade header: after such a request the connection may stop being HTTP.</summary>
    public bool HasUpgrade => Headers.ContainsKey("upgrade");

    public bool IsChunked => Headers.TryGetValue("transfer-encoding", out var value) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase);

    /// <summary>The Content-Length header: null when absent, -1 when it is not a number.</summary>
    public long? ContentLength => Headers.TryGetValue("content-length", out var value)
        ? long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var length) ? length : -1
        : null;

    /// <summary>The version the path asks for and the path without it.</summary>
    public RequestedApiVersion Version => RequestedApiVersion.FromPath(Path);

    /// <summary>The container id of an attach call, or null.</summary>
    public string? AttachContainer => Method == "POST" && AttachPath().Match(Version.Path) is { Success: true } m ? Uri.UnescapeDataString(m.Groups["id"].Value) : null;

    /// <summary>The exec id of an exec start call, or null.</summary>
    public string? ExecStart => Method == "POST" && ExecStartPath().Match(Version.Path) is { Success: true } m ? Uri.UnescapeDataString(m.Groups["id"].Value) : null;

    public bool IsHijack => AttachContainer is not null || ExecStart is not null;

    /// <summary>Parses the head if the buffer holds all of it; null if more bytes are needed or it is not HTTP/1.1.</summary>
    public static RequestHead? TryParse(ReadOnlySequence<byte> buffer, out bool complete)
    {
        var bytes = buffer.Length > MaxHeadBytes ? buffer.Slice(0, MaxHeadBytes).ToArray() : buffer.ToArray();
        var text = Encoding.Latin1.GetString(bytes);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        complete = end >= 0 || buffer.Length > MaxHeadBytes;
        if (end < 0)
        {
            return null;
        }

        var lines = text[..end].Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || !requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return null;
        }

        var target = requestLine[1];
        var question = target.IndexOf('?', StringComparison.Ordinal);
        var path = question < 0 ? target : target[..question];
        var query = new Dictionary<string, string>(StringComparer.Ordinal);
        if (question >= 0)
        {
            foreach (var pair in target[(question + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                query[Unescape(eq < 0 ? pair : pair[..eq])] = eq < 0 ? "" : Unescape(pair[(eq + 1)..]);
            }
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                // Repeated headers fold into one list, as HTTP says they may.
                headers[name] = headers.TryGetValue(name, out var earlier) ? $"{earlier}, {value}" : value;
            }
        }

        return new RequestHead(requestLine[0], target, path, query, headers, end + 4);
    }

    private static string Unescape(string text)
    {
        try
        {
            return Uri.UnescapeDataString(text.Replace('+', ' '));
        }
        catch (UriFormatException)
        {
            return text;
        }
    }

    [GeneratedRegex(@"^/containers/(?<id>[^/]+)/attach$")]
    private static partial Regex AttachPath();

    [GeneratedRegex(@"^/exec/(?<id>[^/]+)/start$")]
    private static partial Regex ExecStartPath();
}
