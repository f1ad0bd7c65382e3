using System.Globalization;
using Vic.PortLayer.Errors;

namespace Vic.Api.Filters;

/// <summary>
/// Parses the <c>since</c>/<c>until</c> values of the API: Unix seconds with optional nanoseconds
/// (<c>1700000000.123456789</c>, what the docker CLI sends after resolving durations) or RFC 3339.
/// </summary>
public static class DockerTimestamp
{
    public static DateTimeOffset? ParseOptional(string? text, string parameter)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        var dot = text.IndexOf('.', StringComparison.Ordinal);
        var secondsText = dot < 0 ? text : text[..dot];
        var fractionText = dot < 0 ? "" : text[(dot + 1)..];
        if (long.TryParse(secondsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds)
            && fractionText.All(char.IsAsciiDigit) && fractionText.Length <= 9)
        {
            var nanos = fractionText.Length == 0 ? 0 : long.Parse(fractionText.PadRight(9, '0'), CultureInfo.InvariantCulture);
            return DateTimeOffset.UnixEpoch.AddSeconds(seconds).AddTicks(nanos / 100);
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
        {
            return date;
        }

        throw PortLayerException.InvalidParameter($"invalid value for {parameter}: {text}");
    }
}
