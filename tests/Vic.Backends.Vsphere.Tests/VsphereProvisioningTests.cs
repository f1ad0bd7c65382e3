using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.PortLayer.Compute;
using Vic.TestSupport;
using Vic.Vim25;

namespace Vic.Backends.Vsphere.Tests;

/// <summary>Which way a ContainerVM is made: an instant clone of the VCH's parent when it can be one of its children, a linked clone otherwise.</summary>
public sealed class VsphereProvisioningTests(VsphereFixture fixture) : IClassFixture<VsphereFixture>
{
    [Fact]
    public async Task TheParentsSizeIsAnInstantCloneAndAnyOtherSizeALinkedOneThatSaysWhy()
    {
        const string vch = "vch-provisioning";
        await using var guests = await SimulatedGuests.StartAsync(fixture.Session, vch);
        using var home = new TempDirectory("provisioning");
        await using var backend = Backend(vch, home.Path, instantClone: true);

        var small = await backend.CloneAsync(Spec("small", new VmResources(1, 256L << 20)), CancellationToken.None);
        await AttachAsync(backend, "small");
        var afterSmall = await ProvisioningAsync(backend);
        var big = await backend.CloneAsync(Spec("big", new VmResources(1, 512L << 20)), CancellationToken.None);
        var afterBig = await ProvisioningAsync(backend);
        var listed = (await backend.ListAsync(CancellationToken.None)).ToDictionary(v => v.VmId, v => v.Provisioning);
        await backend.DestroyAsync("small", CancellationToken.None);
        await backend.DestroyAsync("big", CancellationToken.None);

        Assert.Equal(ProvisioningPath.InstantClone, small.Provisioning);
        Assert.Equal(ProvisioningPath.LinkedClone, big.Provisioning);
        Assert.Equal(ProvisioningPath.InstantClone, listed["small"]);
        Assert.Equal($"instant clone of {vch}-parent", afterSmall);
        Assert.Equal($"linked clone of {vch}-template from its snapshot (no instant clone: 1 vCPU and 512 MiB is not the parent's size)", afterBig);
    }

    [Fact]
    public async Task InstantClonesTurnedOffMakeLinkedClones()
    {
        const string vch = "vch-no-instant";
        await using var guests = await SimulatedGuests.StartAsync(fixture.Session, vch);
        using var home = new TempDirectory("provisioning");
        await using var backend = Backend(vch, home.Path, instantClone: false);

        var vm = await backend.CloneAsync(Spec("linked", new VmResources(1, 256L << 20)), CancellationToken.None);
        var provisioning = await ProvisioningAsync(backend);
        await backend.DestroyAsync("linked", CancellationToken.None);

        Assert.Equal(ProvisioningPath.LinkedClone, vm.Provisioning);
        Assert.Equal($"linked clone of {vch}-template from its snapshot (no instant clone: turned off)", provisioning);
    }

    [Fact]
    public async Task AParentAnAdminPoweredOffIsBootedAgainAndANewEndpointForksTheParentItFinds()
    {
        const string vch = "vch-parent-again";
        await using var guests = await SimulatedGuests.StartAsync(fixture.Session, vch);
        using var home = new TempDirectory("provisioning");
        await using var session = await VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);

        ContainerVm again;
        await using (var first = Backend(vch, home.Combine("first"), instantClone: true))
        {
            await first.CloneAsync(Spec("one", new VmResources(1, 256L << 20)), CancellationToken.None);
            await first.DestroyAsync("one", CancellationToken.None);

            // Powered off under the endpoint that booted it: its next clone finds out and boots it again.
            await session.PowerOffVmAsync((await session.FindByInventoryPathAsync($"DC0/vm/{vch}-parent", CancellationToken.None))!, CancellationToken.None);
            again = await first.CloneAsync(Spec("again", new VmResources(1, 256L << 20)), CancellationToken.None);
            Assert.True(again.Provisioning == ProvisioningPath.InstantClone, $"{await ProvisioningAsync(first)}\nguests:\n{guests.Output}");
            await AttachAsync(first, "again");
            await first.DestroyAsync("again", CancellationToken.None);
        }

        var parent = (await session.FindByInventoryPathAsync($"DC0/vm/{vch}-parent", CancellationToken.None))!;
        await session.PowerOffVmAsync(parent, CancellationToken.None);

        // A new endpoint (its own state) finds the parent off, boots it again and forks it; its vSPC is on the port the parent names.
        await using var second = Backend(vch, home.Combine("second"), instantClone: true);
        var two = await second.CloneAsync(Spec("two", new VmResources(1, 256L << 20)), CancellationToken.None);
        await AttachAsync(second, "two");

        var parents = (await session.ListAsync("VirtualMachine", ["name", "runtime.powerState"], CancellationToken.None)).Where(v => v.Text("name") == $"{vch}-parent").ToList();
        await second.DestroyAsync("two", CancellationToken.None);

        Assert.Equal(ProvisioningPath.InstantClone, again.Provisioning);
        Assert.Equal(ProvisioningPath.InstantClone, two.Provisioning);
        Assert.Equal("poweredOn", Assert.Single(parents).Text("runtime.powerState"));
    }

    [Fact]
    public async Task AParentThatDoesNotBootSendsStartsTheLinkedCloneWayAndIsNotBootedAgainAtOnce()
    {
        // No guests are played for this VCH: its parent never says Hello.
        const string vch = "vch-silent-parent";
        using var home = new TempDirectory("provisioning");
        await using var backend = new VsphereBackend(
            new VsphereBackendOptions(fixture.Session, "DC0", "DC0/host/DC0_C0", vch, fixture.Server.Datastore, IPAddress.Loopback, new VmResources(4, 2L << 30)) { ChannelTimeout = TimeSpan.FromSeconds(2) },
            home.Path,
            NullLogger<VsphereBackend>.Instance);

        var first = await backend.CloneAsync(Spec("first", new VmResources(1, 256L << 20)), CancellationToken.None);
        var afterFirst = await ProvisioningAsync(backend);
        var second = await backend.CloneAsync(Spec("second", new VmResources(1, 256L << 20)), CancellationToken.None);
        var afterSecond = await ProvisioningAsync(backend);
        await backend.DestroyAsync("first", CancellationToken.None);
        await backend.DestroyAsync("second", CancellationToken.None);

        Assert.Equal(ProvisioningPath.LinkedClone, first.Provisioning);
        Assert.Equal(ProvisioningPath.LinkedClone, second.Provisioning);
        Assert.Contains($"no instant clone: the parent did not boot: the VCH's parent {vch}-parent did not say Hello within 2 s", afterFirst, StringComparison.Ordinal);
        Assert.Matches(@"no instant clone: the parent did not boot, \d+ s ago: ", afterSecond);
    }

    private VsphereBackend Backend(string vch, string home, bool instantClone) => new(
        new VsphereBackendOptions(fixture.Session, "DC0", "DC0/host/DC0_C0", vch, fixture.Server.Datastore, IPAddress.Loopback, new VmResources(4, 2L << 30)) { InstantClone = instantClone },
        home,
        NullLogger<VsphereBackend>.Instance);

    private static ContainerVmSpec Spec(string id, VmResources resources) => new(id, id + "-name", resources, [], new Dictionary<string, string>());

    /// <summary>The VM's tether answers on its channel: the clone is a guest, not just a VM in the inventory.</summary>
    private static async Task AttachAsync(VsphereBackend backend, string vmId)
    {
        await using var channel = await backend.OpenChannelAsync(vmId, CancellationToken.None);
        using var tether = new Vic.Interaction.TetherConnection(channel);
        await tether.AttachAndReadAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
    }

    private static async Task<string> ProvisioningAsync(VsphereBackend backend) =>
        (await backend.DescribeAsync(CancellationToken.None)).Details.Single(d => d.Key == "Provisioning").Value;
}
