using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;

namespace Vic.Api.Hijack;

/// <summary>
/// The head of an HTTP/1.1 request read straight off a connection: enough to tell a hijacked
/// Docker call (attach, exec start) from everything else, which Kestrel handles.
/// </summary>
public sealed partial record HijackRequest(string Method, string Path, IReadOnlyDictionary<string, string> Query, IReadOnlyDictionary<string, string> Headers, int HeadLength)
{
    /// <summary>Heads larger than this are not ours to parse; Kestrel will answer them.</summary>
    public const int MaxHeadBytes = 16 * 1024;

    public bool WantsUpgrade => Headers.TryGetValue("upgrade", out var value) && value.Contains("tcp", StringComparison.OrdinalIgnoreCase);

    public long ContentLength => Headers.TryGetValue("content-length", out var value) && long.TryParse(value, out var length) ? length : 0;

    /// <summary>The container id of an attach call, or null.</summary>
    public string? AttachContainer => Method == "POST" && AttachPath().Match(Path) is { Success: true } m ? Uri.UnescapeDataString(m.Groups["id"].Value) : null;

    /// <summary>The exec id of an exec start call, or null.</summary>
    public string? ExecStart => Method == "POST" && ExecStartPath().Match(Path) is { Success: true } m ? Uri.UnescapeDataString(m.Groups["id"].Value) : null;

    /// <summary>Parses the head if the buffer holds all of it; null if more bytes are needed or it is not HTTP/1.1.</summary>
    public static HijackRequest? TryParse(ReadOnlySequence<byte> buffer, out bool complete)
    {
        var bytes = buffer.Length > MaxHeadBytes ? buffer.Slice(0, MaxHeadBytes).ToArray() : buffer.ToArray();
        var text = Encoding.ASCII.GetString(bytes);
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
                query[Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq])] = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
            }
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        return new HijackRequest(requestLine[0], path, query, headers, Encoding.ASCII.GetByteCount(text[..end]) + 4);
    }

    [GeneratedRegex(@"^(?:/v[0-9.]+)?/containers/(?<id>[^/]+)/attach$")]
    private static partial Regex AttachPath();

    [GeneratedRegex(@"^(?:/v[0-9.]+)?/exec/(?<id>[^/]+)/start$")]
    private static partial Regex ExecStartPath();
}
