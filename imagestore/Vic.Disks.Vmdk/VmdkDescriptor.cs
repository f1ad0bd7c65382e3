using System.Globalization;
using System.Text;

namespace Vic.Disks.Vmdk;

/// <summary>One extent line of a descriptor, e.g. <c>RW 20480 SPARSE "disk.vmdk"</c>.</summary>
public sealed record VmdkExtentDescription(string Access, long Sectors, string Type, string FileName);

/// <summary>
/// The text descriptor of a VMDK: header keys (<c>CID</c>, <c>createType</c>, ...), extent
/// lines and the disk database (<c>ddb.*</c>). Both our formats embed it at sector 1.
/// </summary>
public sealed class VmdkDescriptor
{
    private VmdkDescriptor(Dictionary<string, string> values, List<VmdkExtentDescription> extents)
    {
        Values = values;
        Extents = extents;
    }

    /// <summary>Every <c>key=value</c> line, ddb entries included, with quotes removed.</summary>
    public IReadOnlyDictionary<string, string> Values { get; }

    public IReadOnlyList<VmdkExtentDescription> Extents { get; }

    public string? CreateType => Values.GetValueOrDefault("createType");

    public uint? Cid => ParseHex(Values.GetValueOrDefault("CID"));

    public uint? ParentCid => ParseHex(Values.GetValueOrDefault("parentCID"));

    /// <summary>Parses descriptor text, tolerating the variations of real tools (unquoted values, CRLF).</summary>
    public static VmdkDescriptor Parse(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var extents = new List<VmdkExtentDescription>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var extent = ParseExtent(line);
            if (extent is not null)
            {
                extents.Add(extent);
                continue;
            }

            var equals = line.IndexOf('=');
            if (equals > 0)
            {
                values[line[..equals].Trim()] = line[(equals + 1)..].Trim().Trim('"');
            }
        }

        return new VmdkDescriptor(values, extents);
    }

    /// <summary>The descriptor our writers embed, for one SPARSE extent in the same file.</summary>
    internal static string Build(string createType, long capacitySectors, string extentFileName, VmdkAdapterType adapterType)
    {
        if (extentFileName.Length == 0 || extentFileName.IndexOfAny(['"', '\n', '\r', '\0']) >= 0)
        {
            throw new ArgumentException($"unusable extent file name '{extentFileName}'", nameof(extentFileName));
        }

        var (adapter, heads, maxCylinders) = adapterType switch
        {
            VmdkAdapterType.Ide => ("ide", 16, 16383),
            VmdkAdapterType.BusLogic => ("buslogic", 255, 65535),
            _ => ("lsilogic", 255, 65535),
        };
        var cylinders = Math.Min(VmdkFormat.DivRoundUp(capacitySectors, heads * 63), maxCylinders);

        // CID changes whenever the content does; 0xffffffff and 0xfffffffe mean "no parent" to some tools.
        var cid = (uint)Random.Shared.NextInt64(0, 0xFFFFFFFE);
        var text = new StringBuilder()
            .Append("# Disk DescriptorFile\n")
            .Append("version=1\n")
            .Append("encoding=\"UTF-8\"\n")
            .Append(CultureInfo.InvariantCulture, $"CID={cid:x8}\n")
            .Append("parentCID=ffffffff\n")
            .Append(CultureInfo.InvariantCulture, $"createType=\"{createType}\"\n")
            .Append("\n# Extent description\n")
            .Append(CultureInfo.InvariantCulture, $"RW {capacitySectors} SPARSE \"{extentFileName}\"\n")
            .Append("\n# The Disk Data Base\n#DDB\n\n")
            .Append("ddb.virtualHWVersion = \"4\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.geometry.cylinders = \"{cylinders}\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.geometry.heads = \"{heads}\"\n")
            .Append("ddb.geometry.sectors = \"63\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.adapterType = \"{adapter}\"\n");
        return text.ToString();
    }

    /// <summary>Renders the descriptor into its reserved sectors, zero-padded.</summary>
    internal static byte[] ToSectors(string text, int sectors)
    {
        var bytes = new byte[sectors * VmdkFormat.SectorSize];
        if (Encoding.UTF8.GetByteCount(text) > bytes.Length)
        {
            throw new ArgumentException("the VMDK descriptor does not fit its reserved sectors");
        }

        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    private static VmdkExtentDescription? ParseExtent(string line)
    {
        // ACCESS SECTORS TYPE "FILE" [OFFSET]
        var quote = line.IndexOf('"');
        var words = (quote < 0 ? line : line[..quote]).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (quote < 0 || words.Length != 3 || words[0] is not ("RW" or "RDONLY" or "NOACCESS")
            || !long.TryParse(words[1], NumberStyles.None, CultureInfo.InvariantCulture, out var sectors))
        {
            return null;
        }

        var end = line.IndexOf('"', quote + 1);
        return end < 0 ? null : new VmdkExtentDescription(words[0], sectors, words[2], line[(quote + 1)..end]);
    }

    private static uint? ParseHex(string? value) =>
        uint.TryParse(value, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var parsed) ? parsed : null;
}
