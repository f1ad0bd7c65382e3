using System.Text;

namespace Vic.Machine;

/// <summary>One VCH as <c>vic-machine ls</c> shows it.</summary>
/// <param name="Id">The VCH pool's managed object id (VIC showed its appliance VM's; this VCH has none).</param>
/// <param name="ParentPool">The inventory path of the pool it is in; null for a VCH recorded before it was kept.</param>
/// <param name="Version">The vic-machine version that made it; null when not recorded.</param>
public sealed record VchListing(string Id, string? ParentPool, string Name, string Datastore, string? Version)
{
    /// <summary>VIC's table: ID, PATH, NAME, VERSION, UPGRADE STATUS, in aligned columns.</summary>
    public static string Format(IReadOnlyList<VchListing> vchs, string installerVersion)
    {
        string[] header = ["ID", "PATH", "NAME", "VERSION", "UPGRADE STATUS"];
        var rows = vchs.Select(v => (string[])[v.Id, v.ParentPool is { } path ? "/" + path.TrimStart('/') : "-", v.Name, v.Version ?? "unknown", v.UpgradeStatus(installerVersion)]).Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(column => rows.Max(r => r[column].Length)).ToArray();
        var table = new StringBuilder();
        foreach (var row in rows)
        {
            table.AppendLine(string.Join("    ", row.Select((cell, column) => column == row.Length - 1 ? cell : cell.PadRight(widths[column]))).TrimEnd());
        }

        return table.ToString().TrimEnd('\n');
    }

    /// <summary>VIC's words: whether this vic-machine could upgrade it.</summary>
    public string UpgradeStatus(string installerVersion) => Version switch
    {
        null => "Unknown: no version recorded",
        _ when Version == installerVersion => "Up to date",
        _ => $"Upgradeable to {installerVersion}",
    };
}
