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

    [Fact]
    public void ANewContainersMacIsNoneOfTheOthersEvenWhenItsOwnDerivationCollides()
    {
        using var store = VchStore.Open(_dir.File("vch.db"));
        var range = new CollidingRange();
        var catalog = new ContainerCatalog(store, new EventBus(_time), _time, range);
        var first = catalog.Create(new NewContainer("first", "busybox"));
        var asked = catalog.Create(new NewContainer("asked", "busybox", Config: new ContainerConfig { MacAddress = "00:50:56:00:AB:CD" }));
        var second = catalog.Create(new NewContainer("second", "busybox"));
        var third = catalog.Create(new NewContainer("third", "busybox"));

        Assert.Equal("00:50:56:00:00:01", first.MacAddress);
        Assert.Equal(3, new[] { first.MacAddress, second.MacAddress, third.MacAddress }.Distinct().Count());
        Assert.All([second, third], c => Assert.True(VmwareMacs.IsManual(c.MacAddress), c.MacAddress));
        Assert.DoesNotContain(asked.MacAddress.ToLowerInvariant(), new[] { second.MacAddress, third.MacAddress });
    }

    [Fact]
    public void DeriveFreeSkipsTakenMacsWhateverTheirCase()
    {
        var own = VmwareMacs.Derive("c0ffee/bridge");

        var free = VmwareMacs.DeriveFree("c0ffee/bridge", new HashSet<string> { own.ToUpperInvariant() });

        Assert.NotEqual(own, free);
        Assert.Equal(VmwareMacs.Derive("c0ffee/bridge/1"), free);
        Assert.Equal(own, VmwareMacs.DeriveFree("c0ffee/bridge", new HashSet<string>()));
    }

    [Theory]
    [InlineData("00:50:56:00:00:00", true)]
    [InlineData("00:50:56:3F:ff:ff", true)]
    [InlineData("00:50:56:40:00:00", false)]
    [InlineData("02:42:ac:11:00:02", false)]
    [InlineData("00:50:56:00:00", false)]
    [InlineData("00:50:56:zz:00:00", false)]
    public void VmwaresManualRangeIsWhatVcenterTakes(string mac, bool manual) => Assert.Equal(manual, VmwareMacs.IsManual(mac));

    /// <summary>Every container's first choice is the same MAC, and the user's asked-for MAC is its second: collisions on purpose.</summary>
    private sealed class CollidingRange : IMacRange
    {
        private static readonly string[] Choices = ["00:50:56:00:00:01", "00:50:56:00:ab:cd", "00:50:56:00:00:02", "00:50:56:00:00:03"];

        public string BridgeMacFor(string containerId, IReadOnlySet<string> taken) => Choices.First(c => !taken.Contains(c));

        public bool Takes(string mac, out string range)
        {
            range = "VMware's";
            return VmwareMacs.IsManual(mac);
        }
    }

    private sealed class VmwareRange : IMacRange
    {
        public string BridgeMacFor(string containerId, IReadOnlySet<string> taken) => VmwareMacs.DeriveFree(containerId + "/bridge", taken);

        public bool Takes(string mac, out string range)
        {
            range = "VMware's";
            return VmwareMacs.IsManual(mac);
        }
    }
}
