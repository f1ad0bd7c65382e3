using System.Globalization;

namespace Vic.Endpoint.Configuration;

/// <summary>Sizes as docker writes them: <c>512m</c>, <c>4g</c>, <c>1024</c> (bytes), case-insensitive, binary units.</summary>
public static class ByteSize
{
    public static long Parse(string text, string option)
    {
        var trimmed = text.Trim().ToLowerInvariant().TrimEnd('b', 'i');
        var unit = trimmed.Length > 0 && char.IsAsciiLetter(trimmed[^1]) ? trimmed[^1] : ' ';
        var number = unit == ' ' ? trimmed : trimmed[..^1];
        var shift = unit switch
        {
            ' ' => 0,
            'k' => 10,
            'm' => 20,
            'g' => 30,
            't' => 40,
            _ => -1,
        };
        if (shift < 0 || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > long.MaxValue >> shift)
        {
            throw new ArgumentException($"{option}: invalid size '{text}' (use e.g. 512m or 4g)");
        }

        return value << shift;
    }
}
