using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Events;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Tests;

/// <summary>A backend whose NICs take MACs from a range of their own gives each new container's bridge NIC one.</summary>
public sealed class ContainerCatalogMacTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TheRangesMacIsTheContainersAndKeptAcrossARestartWhileOneAskedForWins()
    {
        string assignedId, askedId;
        using (var store = VchStore.Open(_dir.File("vch.db")))
        {
            var catalog = new ContainerCatalog(store, new EventBus(_time), _time, new VmwareRange());
            assignedId = catalog.Create(new NewContainer("assigned", "busybox")).Id;
            askedId = catalog.Create(new NewContainer("asked", "busybox", Config: new ContainerConfig { MacAddress = "00:50:56:00:00:01" })).Id;
        }

        using var reopened = VchStore.Open(_dir.File("vch.db"));
        var again = new ContainerCatalog(reopened, new EventBus(_time), _time);
        var assigned = again.Resolve(assignedId);
        var asked = again.Resolve(askedId);
        var plain = again.Create(new NewContainer("plain", "busybox"));

        Assert.Equal(VmwareMacs.Derive(assignedId + "/bridge"), assigned.MacAddress);
        Assert.True(VmwareMacs.IsManual(assigned.MacAddress));
        Assert.Equal("00:50:56:00:00:01", asked.MacAddress);
        Assert.StartsWith("02:42:", plain.MacAddress, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("00:50:56:00:00:00", true)]
    [InlineData("00:50:56:3F:ff:ff", true)]
    [InlineData("00:50:56:40:00:00", false)]
    [InlineData("02:42:ac:11:00:02", false)]
    [InlineData("00:50:56:00:00", false)]
    [InlineData("00:50:56:zz:00:00", false)]
    public void VmwaresManualRangeIsWhatVcenterTakes(string mac, bool manual) => Assert.Equal(manual, VmwareMacs.IsManual(mac));

    private sealed class VmwareRange : IMacRange
    {
        public string BridgeMacFor(string containerId) => VmwareMacs.Derive(containerId + "/bridge");

        public bool Takes(string mac, out string range)
        {
            range = "VMware's";
            return VmwareMacs.IsManual(mac);
        }
    }
}
