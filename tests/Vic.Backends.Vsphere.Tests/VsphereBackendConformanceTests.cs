using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Backends.Conformance;
using Vic.PortLayer.Compute;
using Vic.TestSupport;
using Vic.Vim25;

namespace Vic.Backends.Vsphere.Tests;

/// <summary>vcsim as vCenter and simulated guests running the real tether, for the class.</summary>
public class VsphereFixture : IAsyncLifetime
{
    /// <summary>Whether guests are real VMs booting the ISO (QEMU with the vSphere hardware), not a tether on this host.</summary>
    public virtual bool RealVms => false;

    public const string VchName = "vch-test";

    public Vcsim Server { get; private set; } = null!;

    public SimulatedGuests Guests { get; private set; } = null!;

    public VimSessionConfig Session => new(Server.Sdk, Vcsim.User, Vcsim.Password, Server.Thumbprint);

    public async Task InitializeAsync()
    {
        Server = await Vcsim.StartAsync();
        Guests = await SimulatedGuests.StartAsync(Session, VchName, RealVms);
    }

    public async Task DisposeAsync()
    {
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "vcsim-last.log"), Server.Log);
        await Guests.DisposeAsync();
        await Server.DisposeAsync();
    }
}

/// <summary>The vSphere backend passes the conformance suite against vcsim, the guests played by the tether on this host.</summary>
public class VsphereBackendConformanceTests(VsphereFixture fixture) : ComputeBackendConformance, IClassFixture<VsphereFixture>
{
    protected override VmResources Pool { get; } = new(4, 2L << 30);

    protected override bool GuestIsAVirtualMachine => fixture.RealVms;

    protected override IComputeBackend CreateBackend(string stateDirectory) => new VsphereBackend(
        new VsphereBackendOptions(fixture.Session, "DC0", "DC0/host/DC0_C0", VsphereFixture.VchName, fixture.Server.Datastore, IPAddress.Loopback, Pool)
        {
            WatchInterval = TimeSpan.FromMilliseconds(200),
        },
        stateDirectory,
        NullLogger<VsphereBackend>.Instance);

    /// <summary>An admin powers the VM off in vCenter.</summary>
    protected override async Task KillBehindTheBackendsBackAsync(string vmId)
    {
        await using var session = await VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);
        var vm = (await session.ListAsync("VirtualMachine", ["config.extraConfig"], CancellationToken.None))
            .Single(v => VirtualMachines.ExtraConfigOf(v.Properties.GetValueOrDefault("config.extraConfig")).GetValueOrDefault("vic.vm.id") == vmId);
        await session.PowerOffVmAsync(vm.Obj, CancellationToken.None);
    }

    protected override string Diagnose(string vmId) => fixture.Guests.Output + "\nvcsim:\n" + fixture.Server.Log;
}

public sealed class VsphereRealGuestFixture : VsphereFixture
{
    public override bool RealVms => true;
}

/// <summary>The same suite with every guest a real VM booting the bootstrap ISO: nothing of it is left out.</summary>
[Collection(nameof(VsphereBackendRealGuestConformanceTests))]
public sealed class VsphereBackendRealGuestConformanceTests(VsphereRealGuestFixture fixture) : VsphereBackendConformanceTests(fixture), IClassFixture<VsphereRealGuestFixture>;

/// <summary>ISO boots under TCG take the machine's two cores: this suite runs alone.</summary>
[CollectionDefinition(nameof(VsphereBackendRealGuestConformanceTests), DisableParallelization = true)]
public sealed class VsphereRealGuestCollection;
