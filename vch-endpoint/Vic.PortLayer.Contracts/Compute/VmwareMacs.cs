namespace Vic.PortLayer.Compute;

/// <summary>
/// MACs in VMware's range for manually assigned addresses, 00:50:56:00:00:00 to 00:50:56:3f:ff:ff:
/// vCenter takes a NIC's manual MAC from this range only.
/// </summary>
public static class VmwareMacs
{
    /// <summary>A MAC of the range derived from <paramref name="seed"/>: the same seed gives the same MAC.</summary>
    public static string Derive(string seed)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed));
        return $"00:50:56:{hash[0] & 0x3F:x2}:{hash[1]:x2}:{hash[2]:x2}";
    }

    /// <summary>
    /// A MAC of the range derived from <paramref name="seed"/> that is none of <paramref name="taken"/>
    /// (compared without case): the seed's own MAC unless another has it, then the next derivation.
    /// </summary>
    public static string DeriveFree(string seed, IReadOnlySet<string> taken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var mac = Derive(attempt == 0 ? seed : $"{seed}/{attempt}");
            if (!taken.Contains(mac) && !taken.Contains(mac.ToUpperInvariant()))
            {
                return mac;
            }
        }
    }

    /// <summary>Whether vCenter would take <paramref name="mac"/> as a NIC's manual MAC.</summary>
    public static bool IsManual(string mac)
    {
        var bytes = mac.Split(':');
        return bytes.Length == 6 && bytes.All(b => b.Length == 2 && b.All(Uri.IsHexDigit))
            && string.Equals(string.Join(':', bytes[..3]), "00:50:56", StringComparison.OrdinalIgnoreCase)
            && Convert.ToInt32(bytes[3], 16) <= 0x3F;
    }
}

/// <summary>
/// A backend whose NICs take MACs from a range of its own only (vSphere: VMware's manual range). The
/// port layer gives each new container's bridge NIC a MAC from it and refuses a <c>--mac-address</c>
/// outside it, so the MAC docker inspect shows is the one the VM's NIC and the guest have.
/// </summary>
public interface IMacRange
{
    /// <summary>
    /// The bridge NIC's MAC for a new container, none of <paramref name="taken"/> (the other
    /// containers' MACs: two NICs with one MAC on a port group would each lose frames to the other).
    /// </summary>
    string BridgeMacFor(string containerId, IReadOnlySet<string> taken);

    /// <summary>Whether the backend's NICs can take <paramref name="mac"/>; <paramref name="range"/> says which they take.</summary>
    bool Takes(string mac, out string range);
}
