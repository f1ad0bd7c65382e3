namespace Vic.Machine.Tests;

/// <summary>The settings of a VCH on a vCenter that validate as a create's, an appliance's ISO and all, for a test to add to.</summary>
internal static class VcenterSettings
{
    public static VchSettings For(string iso) => new()
    {
        Target = "vcenter.example.com",
        User = "admin",
        Password = "p",
        Name = "vch1",
        ComputeResource = "cluster1",
        ImageStore = "ds1",
        ChannelAddress = "10.0.0.9",
        Iso = iso,
        ApplianceIso = iso,
    };
}
