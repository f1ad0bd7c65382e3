using System.Reflection;
using YamlDotNet.Serialization.NamingConventions;

namespace Vic.Machine;

/// <summary>
/// VIC's <c>inspect config</c>: the <c>create</c> command that makes this VCH again, from its record.
/// The password is never in it (the record has none), nor a proxy's credentials (shown as
/// <c>xxxxx:xxxxx</c>, as docker info shows them); what
/// create records for itself (the version, the parent pool) is left out.
/// </summary>
public static class RecreateCommand
{
    private static readonly HashSet<string> NotGiven = [nameof(VchSettings.Password), nameof(VchSettings.Version), nameof(VchSettings.ParentPool)];

    /// <param name="raw">One line (VIC's <c>--format raw</c>); else one option a line, continued with backslashes.</param>
    public static string Of(VchSettings record, bool raw)
    {
        var options = new List<string>();
        foreach (var property in typeof(VchSettings).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => !NotGiven.Contains(p.Name)))
        {
            var flag = "--" + HyphenatedNamingConvention.Instance.Apply(property.Name);
            switch (property.GetValue(record))
            {
                case null:
                case false:
                    break;
                case true:
                    options.Add(flag);
                    break;
                case IEnumerable<string> values:
                    options.AddRange(values.Select(v => $"{flag} {Quoted(v)}"));
                    break;
                case string proxy when property.Name is nameof(VchSettings.HttpProxy) or nameof(VchSettings.HttpsProxy):
                    options.Add($"{flag} {Quoted(Vic.Registry.ProxySettings.Masked(proxy))}");
                    break;
                case var value:
                    options.Add($"{flag} {Quoted(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!)}");
                    break;
            }
        }

        return raw
            ? string.Join(' ', ["vic-machine-linux create", .. options])
            : string.Join(" \\\n", ["vic-machine-linux create", .. options.Select(o => "  " + o)]);
    }

    private static string Quoted(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:@=,%+".Contains(c)) ? value : $"'{value.Replace("'", "'\\''", StringComparison.Ordinal)}'";
}
