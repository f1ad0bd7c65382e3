using System.Globalization;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>Signal names as docker takes them (<c>SIGTERM</c>, <c>TERM</c>, <c>15</c>) to Linux numbers.</summary>
public static class Signals
{
    private static readonly Dictionary<string, int> Numbers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1,
        ["INT"] = 2,
        ["QUIT"] = 3,
        ["ILL"] = 4,
        ["TRAP"] = 5,
        ["ABRT"] = 6,
        ["BUS"] = 7,
        ["FPE"] = 8,
        ["KILL"] = 9,
        ["USR1"] = 10,
        ["SEGV"] = 11,
        ["USR2"] = 12,
        ["PIPE"] = 13,
        ["ALRM"] = 14,
        ["TERM"] = 15,
        ["STKFLT"] = 16,
        ["CHLD"] = 17,
        ["CONT"] = 18,
        ["STOP"] = 19,
        ["TSTP"] = 20,
        ["TTIN"] = 21,
        ["TTOU"] = 22,
        ["URG"] = 23,
        ["XCPU"] = 24,
        ["XFSZ"] = 25,
        ["VTALRM"] = 26,
        ["PROF"] = 27,
        ["WINCH"] = 28,
        ["IO"] = 29,
        ["PWR"] = 30,
        ["SYS"] = 31,
    };

    public static int Parse(string signal)
    {
        if (int.TryParse(signal, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number is > 0 and < 65)
        {
            return number;
        }

        var name = signal.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? signal[3..] : signal;
        return Numbers.TryGetValue(name, out number) ? number : throw PortLayerException.InvalidParameter($"Invalid signal: {signal}");
    }
}
