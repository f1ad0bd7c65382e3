using Microsoft.Extensions.Logging.Abstractions;
using Vic.TestSupport;

namespace Vic.Vim25.Tests;

/// <summary>One vcsim for the class; each test makes its own objects in it.</summary>
public sealed class VcsimFixture : IAsyncLifetime
{
    public Vcsim Server { get; private set; } = null!;

    public VimSessionConfig Config => new(Server.Sdk, Vcsim.User, Vcsim.Password, Server.Thumbprint);

    public async Task InitializeAsync() => Server = await Vcsim.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>The vim25 client against the govmomi vCenter simulator: a real SOAP peer over TLS.</summary>
public sealed class VcsimTests(VcsimFixture fixture) : IClassFixture<VcsimFixture>
{
    private const string Cluster = "DC0/host/DC0_C0";

    private Task<VimSession> ConnectAsync(VimSessionConfig? config = null) =>
        VimSession.ConnectAsync(config ?? fixture.Config, NullLogger.Instance, CancellationToken.None);

    [Fact]
    public async Task TheSessionTrustsTheCertificateByThumbprintOnlyAndRefusesAWrongPassword()
    {
        await using var session = await ConnectAsync();
        var wrongPrint = await Assert.ThrowsAnyAsync<HttpRequestException>(() => ConnectAsync(fixture.Config with { Thumbprint = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33" }));
        var wrongPassword = await Assert.ThrowsAsync<VimFaultException>(() => ConnectAsync(fixture.Config with { Password = "nope" }));

        Assert.Equal("VirtualCenter", session.Content.About.ApiType);
        Assert.NotNull(session.SessionKey);
        Assert.NotNull(wrongPrint);
        Assert.Equal("InvalidLogin", wrongPassword.FaultName);
    }

    [Fact]
    public async Task APoolIsMadeUnderTheClusterWithItsLimitsChangedAndDestroyed()
    {
        await using var session = await ConnectAsync();
        var root = await session.FindByInventoryPathAsync($"{Cluster}/Resources", CancellationToken.None);

        var pool = await session.CreateResourcePoolAsync(root!, "vch-pool", new PoolLimits(2000, 1024), CancellationToken.None);
        var found = await session.FindByInventoryPathAsync($"{Cluster}/Resources/vch-pool", CancellationToken.None);
        var limits = await session.ReadLimitsAsync(pool, CancellationToken.None);
        await session.UpdatePoolAsync(pool, null, new PoolLimits(null, 2048), CancellationToken.None);
        var changed = await session.ReadLimitsAsync(pool, CancellationToken.None);
        await session.DestroyAsync(pool, CancellationToken.None);
        var gone = await session.FindByInventoryPathAsync($"{Cluster}/Resources/vch-pool", CancellationToken.None);

        Assert.Equal("ResourcePool", pool.Type);
        Assert.Equal(pool, found);
        Assert.Equal(new PoolLimits(2000, 1024), limits);
        Assert.Equal(new PoolLimits(null, 2048), changed);
        Assert.Null(gone);
        Assert.Null(await session.FindByInventoryPathAsync("DC0/no/such/thing", CancellationToken.None));
    }

    [Fact]
    public async Task AVmIsCreatedWithItsDevicesAndExtraConfigPoweredAndDestroyed()
    {
        await using var session = await ConnectAsync();
        var pool = (await session.FindByInventoryPathAsync($"{Cluster}/Resources", CancellationToken.None))!;
        var folder = (await session.FindByInventoryPathAsync("DC0/vm", CancellationToken.None))!;
        var datastore = fixture.Server.Datastore;
        var spec = new VmConfigSpec
        {
            Name = "web-0123456789ab",
            GuestId = "otherLinux64Guest",
            VmPathName = $"[{datastore}] web-0123456789ab",
            Cpus = 1,
            MemoryMb = 256,
            Devices =
            [
                DeviceChange.Add(new CdromIso(-1, $"[{datastore}] vch/bootstrap.iso")),
                DeviceChange.Add(new ParaVirtualScsiController(-100)),
                DeviceChange.Add(new VirtualDiskDevice(-101, $"[{datastore}] web-0123456789ab/scratch.vmdk", -100, 0, 1 << 20), "create"),
                DeviceChange.Add(new NetworkSerialPort(-200, "tcp://127.0.0.1:2377")),
            ],
            ExtraConfig = [new("vic.container.id", "0123456789ab"), new("vic.container.name", "web")],
        };

        var vm = await session.CreateVmAsync(folder, pool, spec, CancellationToken.None);
        var devices = await session.ReadDevicesAsync(vm, CancellationToken.None);
        var content = await session.RetrieveOneAsync(vm, ["name", "config.extraConfig", "runtime.powerState", "resourcePool"], CancellationToken.None);
        await session.PowerOnVmAsync(vm, CancellationToken.None);
        var on = (await session.RetrieveOneAsync(vm, ["runtime.powerState"], CancellationToken.None)).Text("runtime.powerState");
        var twice = await Assert.ThrowsAsync<VimFaultException>(() => session.PowerOnVmAsync(vm, CancellationToken.None));
        var listed = await session.ListAsync("VirtualMachine", ["name"], CancellationToken.None, pool);
        await session.PowerOffVmAsync(vm, CancellationToken.None);
        await session.DestroyAsync(vm, CancellationToken.None);
        var gone = await Assert.ThrowsAsync<VimFaultException>(() => session.RetrieveOneAsync(vm, ["name"], CancellationToken.None));

        Assert.Equal("web-0123456789ab", content.Text("name"));
        Assert.Equal(pool, content.Ref("resourcePool"));
        Assert.Equal("poweredOff", content.Text("runtime.powerState"));
        Assert.Equal("0123456789ab", VirtualMachines.ExtraConfigOf(content.Properties["config.extraConfig"])["vic.container.id"]);
        Assert.Contains(devices, d => d.Type == "VirtualCdrom" && d.BackingType == "VirtualCdromIsoBackingInfo" && d.FileName == $"[{datastore}] vch/bootstrap.iso");
        Assert.Contains(devices, d => d.Type == "ParaVirtualSCSIController");
        Assert.Contains(devices, d => d.Type == "VirtualDisk" && d.FileName == $"[{datastore}] web-0123456789ab/scratch.vmdk");
        Assert.Contains(devices, d => d.Type == "VirtualSerialPort" && d.ServiceUri == "tcp://127.0.0.1:2377");
        Assert.Equal("poweredOn", on);
        Assert.Equal("InvalidPowerState", twice.FaultName);
        Assert.Contains(listed, o => o.Obj == vm);
        Assert.Equal("ManagedObjectNotFound", gone.FaultName);
    }

    [Fact]
    public async Task AnInstantCloneOfARunningVmRunsAtOnceWithItsConfigAndOfAStoppedOneIsRefused()
    {
        // govmomi 0.24's simulator has no InstantClone_Task: tools/vcsim serves it (instantclone.go).
        await using var session = await ConnectAsync();
        var parent = (await session.FindByInventoryPathAsync("DC0/vm/DC0_H0_VM0", CancellationToken.None))!;
        var pool = (await session.FindByInventoryPathAsync($"{Cluster}/Resources", CancellationToken.None))!;
        var folder = (await session.FindByInventoryPathAsync("DC0/vm", CancellationToken.None))!;
        var parentPower = (await session.RetrieveOneAsync(parent, ["runtime.powerState"], CancellationToken.None)).Text("runtime.powerState");

        var logins = session.Logins;

        // A session the server ended is met with NotAuthenticated first, and the client logs in again.
        await fixture.Server.TerminateSessionAsync(session.SessionKey!);
        var clone = await session.InstantCloneAsync(parent, "instant-0123456789ab", pool, folder, [new("vic.container.id", "0123456789ab")], CancellationToken.None);
        var content = await session.RetrieveOneAsync(clone, ["name", "config.extraConfig", "runtime.powerState", "resourcePool"], CancellationToken.None);
        await session.PowerOffVmAsync(clone, CancellationToken.None);
        var stopped = await Assert.ThrowsAsync<VimFaultException>(() => session.InstantCloneAsync(clone, "instant-of-a-stopped-vm", pool, folder, [], CancellationToken.None));
        var missing = await Assert.ThrowsAsync<VimFaultException>(() => session.InstantCloneAsync(new ManagedObjectReference("VirtualMachine", "vm-nosuch"), "instant-of-nothing", pool, folder, [], CancellationToken.None));
        await session.DestroyAsync(clone, CancellationToken.None);

        var extra = VirtualMachines.ExtraConfigOf(content.Properties["config.extraConfig"]);
        Assert.Equal("poweredOn", parentPower);
        Assert.Equal(logins + 1, session.Logins);
        Assert.Equal(("instant-0123456789ab", "poweredOn"), (content.Text("name"), content.Text("runtime.powerState")));
        Assert.Equal(pool, content.Ref("resourcePool"));
        Assert.Equal("0123456789ab", extra["vic.container.id"]);
        Assert.Equal(parent.Value, extra["vcsim.instantClone.parent"]);
        Assert.Equal("InvalidPowerState", stopped.FaultName);
        Assert.Equal("ManagedObjectNotFound", missing.FaultName);
        Assert.DoesNotContain(await session.ListAsync("VirtualMachine", ["name"], CancellationToken.None, pool), o => o.Text("name") == "instant-of-a-stopped-vm");
    }

    [Fact]
    public async Task DatastoreFilesAreUploadedReadBackAndDeleted()
    {
        await using var session = await ConnectAsync();
        var datacenter = (await session.FindByInventoryPathAsync("DC0", CancellationToken.None))!;
        var datastore = fixture.Server.Datastore;
        var bytes = System.Text.Encoding.UTF8.GetBytes("bootstrap image stand-in");

        await session.MakeDirectoryAsync($"[{datastore}] vch-files/images", datacenter, CancellationToken.None);
        await session.UploadAsync("DC0", datastore, "vch-files/images/layer.bin", new MemoryStream(bytes), CancellationToken.None);
        var read = await session.DownloadAsync("DC0", datastore, "vch-files/images/layer.bin", CancellationToken.None);
        var onDisk = File.ReadAllBytes(Path.Combine(fixture.Server.DatastoreDirectory, "vch-files", "images", "layer.bin"));
        await session.DeleteDatastoreFileAsync($"[{datastore}] vch-files", datacenter, CancellationToken.None);
        var afterDelete = await session.DownloadAsync("DC0", datastore, "vch-files/images/layer.bin", CancellationToken.None);

        Assert.Equal(bytes, read);
        Assert.Equal(bytes, onDisk);
        Assert.Null(afterDelete);
        Assert.False(Directory.Exists(Path.Combine(fixture.Server.DatastoreDirectory, "vch-files")));
    }

    [Fact]
    public async Task ASessionEndedOnTheServerIsReestablishedMidOperation()
    {
        await using var session = await ConnectAsync();
        var first = session.SessionKey!;

        await fixture.Server.TerminateSessionAsync(first);
        var pool = await session.FindByInventoryPathAsync($"{Cluster}/Resources", CancellationToken.None);

        Assert.Equal("ResourcePool", pool!.Type);
        Assert.Equal(2, session.Logins);
        Assert.NotEqual(first, session.SessionKey);
    }

    [Fact]
    public async Task AFailingTaskSurfacesItsFaultByName()
    {
        await using var session = await ConnectAsync();
        var vm = (await session.FindByInventoryPathAsync("DC0/vm/DC0_H0_VM1", CancellationToken.None))!;

        await fixture.Server.DisableMethodAsync("VirtualMachine", vm.Value, "PowerOffVM_Task");
        var disabled = await Assert.ThrowsAsync<VimFaultException>(() => session.PowerOffVmAsync(vm, CancellationToken.None));
        await fixture.Server.EnableMethodAsync("VirtualMachine", vm.Value, "PowerOffVM_Task");
        await session.PowerOffVmAsync(vm, CancellationToken.None);
        var offAgain = await Assert.ThrowsAsync<VimFaultException>(() => session.PowerOffVmAsync(vm, CancellationToken.None));
        await session.PowerOnVmAsync(vm, CancellationToken.None);

        Assert.Equal("MethodDisabled", disabled.FaultName);
        Assert.Equal("InvalidPowerState", offAgain.FaultName);
    }
}
