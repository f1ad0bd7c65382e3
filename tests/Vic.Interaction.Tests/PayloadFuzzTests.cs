using System.Text;

namespace Vic.Interaction.Tests;

/// <summary>
/// Every payload a tether sends, mutated as a broken or hostile guest might send it (bytes flipped,
/// cut short, values swapped for nulls, strings, huge numbers or deep nesting): decoding either
/// succeeds or fails with a <see cref="ProtocolException"/>, which the endpoint turns into the end
/// of that guest's container. Nothing else may escape; the seed makes every run the same corpus.
/// </summary>
public sealed class PayloadFuzzTests
{
    public static TheoryData<string> Names => PayloadGoldenTests.Names;

    [Theory]
    [MemberData(nameof(Names))]
    public void AMutatedPayloadDecodesOrFailsAsAProtocolError(string name)
    {
        var (_, roundTrip, golden) = PayloadGoldenTests.Cases[name];
        var random = new Random(name.GetHashCode(StringComparison.Ordinal) ^ 20261204);
        var escaped = new List<string>();
        for (var i = 0; i < 2000; i++)
        {
            var mutated = Mutate(golden, random);
            try
            {
                roundTrip(mutated);
            }
            catch (ProtocolException)
            {
                // What the pump catches: the guest broke the protocol.
            }
            catch (Exception ex)
            {
                escaped.Add($"{ex.GetType().Name} for {mutated}");
            }
        }

        Assert.True(escaped.Count == 0, string.Join('\n', escaped.Take(5)));
    }

    private static readonly string[] Replacements = ["null", "\"x\"", "-1", "1e400", "99999999999999999999", "[]", "{}", "true", "\"\\u0000\"", new string('[', 2000) + new string(']', 2000)];

    private static string Mutate(string json, Random random)
    {
        var text = new StringBuilder(json);
        switch (random.Next(5))
        {
            case 0:
                // A flipped byte.
                var at = random.Next(text.Length);
                text[at] = (char)random.Next(32, 127);
                break;
            case 1:
                // Cut short.
                text.Length = random.Next(text.Length);
                break;
            case 2:
                // A value replaced: after a colon, up to the next comma or closing brace.
                var colon = json.IndexOf(':', random.Next(json.Length));
                if (colon > 0)
                {
                    var end = json.IndexOfAny([',', '}'], colon);
                    return json[..(colon + 1)] + Replacements[random.Next(Replacements.Length)] + (end > 0 ? json[end..] : "");
                }

                break;
            case 3:
                // A key dropped or duplicated.
                var comma = json.IndexOf(',', random.Next(json.Length));
                if (comma > 0)
                {
                    var next = json.IndexOfAny([',', '}'], comma + 1);
                    return random.Next(2) == 0 && next > 0 ? json[..comma] + json[next..] : json[..comma] + json[comma..(next > 0 ? next : json.Length)] + json[comma..];
                }

                break;
            default:
                // Random bytes.
                var bytes = new byte[random.Next(1, 64)];
                random.NextBytes(bytes);
                return Encoding.Latin1.GetString(bytes);
        }

        return text.ToString();
    }
}
