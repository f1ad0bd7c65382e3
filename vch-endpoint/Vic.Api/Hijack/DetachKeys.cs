using Vic.PortLayer.Errors;

namespace Vic.Api.Hijack;

/// <summary>
/// The key sequence that detaches a client from a container without ending it (docker's
/// <c>--detach-keys</c>, ctrl-p,ctrl-q by default). Scans the client's stdin: bytes that could
/// start the sequence are held back until it is clear whether they do.
/// </summary>
public sealed class DetachKeys
{
    public const string Default = "ctrl-p,ctrl-q";

    private readonly byte[] _sequence;
    private int _matched;

    private DetachKeys(byte[] sequence) => _sequence = sequence;

    /// <summary>Parses docker's notation: comma-separated <c>ctrl-x</c> or single characters.</summary>
    public static DetachKeys Parse(string? keys)
    {
        var text = string.IsNullOrEmpty(keys) ? Default : keys;
        var sequence = new List<byte>();
        foreach (var key in text.Split(','))
        {
            var k = key.Trim();
            if (k.Length == 1)
            {
                sequence.Add((byte)k[0]);
            }
            else if (k.StartsWith("ctrl-", StringComparison.OrdinalIgnoreCase) && k.Length == 6)
            {
                var c = char.ToLowerInvariant(k[5]);
                sequence.Add(c switch
                {
                    >= 'a' and <= 'z' => (byte)(c - 'a' + 1),
                    '@' => 0,
                    '[' => 27,
                    '\\' => 28,
                    ']' => 29,
                    '^' => 30,
                    '_' => 31,
                    _ => throw Invalid(k),
                });
            }
            else
            {
                throw Invalid(k);
            }
        }

        return new DetachKeys([.. sequence]);
    }

    /// <summary>
    /// Feeds the next bytes of stdin; returns what may go to the container and whether the
    /// sequence is complete (the client detaches, and nothing after it is forwarded).
    /// </summary>
    public (byte[] Forward, bool Detached) Scan(ReadOnlySpan<byte> input)
    {
        var forward = new List<byte>(input.Length);
        foreach (var b in input)
        {
            if (b == _sequence[_matched])
            {
                if (++_matched == _sequence.Length)
                {
                    return ([.. forward], true);
                }

                continue;
            }

            // Not the sequence after all: what was held back goes through, and this byte may start it anew.
            forward.AddRange(_sequence.AsSpan(0, _matched));
            _matched = 0;
            if (b == _sequence[0])
            {
                _matched = 1;
            }
            else
            {
                forward.Add(b);
            }
        }

        return ([.. forward], false);
    }

    private static PortLayerException Invalid(string key) =>
        PortLayerException.InvalidParameter($"Invalid detach keys ({key}) provided");
}
