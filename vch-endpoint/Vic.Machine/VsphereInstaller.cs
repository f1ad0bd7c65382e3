using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Vim25;

namespace Vic.Machine;

/// <summary>
/// A VCH on vSphere: its resource pool under the compute resource (with the CPU and memory limits),
/// its folder on the image datastore (the ISO, imported disks, ContainerVM files and the VCH's
/// record, <c>vch.yaml</c>), its certificates, and its endpoint. Create checks everything first and
/// undoes what it made when a later step fails.
/// </summary>
public sealed partial class VsphereInstaller(VchPlan plan, MachineProgress progress)
{
    private const string RecordFile = "vch.yaml";

    private VspherePlacement Placement => plan.Vsphere!;

    public async Task CreateAsync(CancellationToken cancellationToken)
    {
        await using var session = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var where = await LocateAsync(session, Placement.ImageStore, cancellationToken).ConfigureAwait(false);
        if (await session.FindByInventoryPathAsync(where.PoolPath(plan.Name), cancellationToken).ConfigureAwait(false) is not null)
        {
            throw new MachineException($"a resource pool {plan.Name} already exists in {where.ComputeResourcePath}: choose another --name or delete that VCH");
        }

        if (await session.FileExistsAsync(where.DatacenterPath, where.Datastore, $"{plan.Name}/{RecordFile}", cancellationToken).ConfigureAwait(false))
        {
            throw new MachineException($"[{where.Datastore}] {plan.Name} already holds a VCH: choose another --name or delete it");
        }

        var networks = (await session.ListAsync("Network", ["name"], cancellationToken, where.Datacenter).ConfigureAwait(false)).Select(n => n.Text("name")).ToHashSet();
        var portGroups = new List<(string, string?)> { ("--bridge-network", plan.Settings.BridgeNetwork), ("--public-network", plan.Settings.PublicNetwork) };
        portGroups.AddRange(plan.Settings.ContainerNetwork.Select(c => ("--container-network", (string?)(c.LastIndexOf(':') is > 0 and var colon ? c[..colon] : c))));
        foreach (var (option, portGroup) in portGroups)
        {
            if (portGroup is not null && !networks.Contains(portGroup))
            {
                throw new MachineException($"{option} {portGroup}: no such port group in {where.DatacenterPath} ({string.Join(", ", networks.Order())})");
            }
        }

        if (Directory.Exists(plan.CertPath) && Directory.EnumerateFileSystemEntries(plan.CertPath).Any())
        {
            throw new MachineException($"--cert-path {plan.CertPath} is not empty: it would hold this VCH's certificates and state");
        }

        progress.Step($"validated: {session.Content.About.FullName}, {where.ComputeResourcePath}, datastore {where.Datastore}");
        var undo = new Stack<(string What, Func<Task> Action)>();
        try
        {
            var pool = await session.CreateResourcePoolAsync(where.RootPool, plan.Name, Limits(), cancellationToken).ConfigureAwait(false);
            undo.Push(("the resource pool", () => session.DestroyAsync(pool, CancellationToken.None)));
            progress.Step($"resource pool {where.PoolPath(plan.Name)} (CPU {Describe(plan.CpuMhz, "MHz")}, memory {plan.MemoryMb} MB)");

            await session.MakeDirectoryAsync(Datastores.DatastorePath(where.Datastore, $"{plan.Name}/disks"), where.Datacenter, cancellationToken).ConfigureAwait(false);
            undo.Push(("the datastore folder", () => session.DeleteDatastoreFileAsync(Datastores.DatastorePath(where.Datastore, plan.Name), where.Datacenter, CancellationToken.None)));
            progress.Step($"datastore folder [{where.Datastore}] {plan.Name}");

            await UploadIsoAsync(session, where, cancellationToken).ConfigureAwait(false);

            Certificates.GenerateUnlessPlain(plan);
            undo.Push(("the certificates", () =>
            {
                Directory.Delete(plan.CertPath, recursive: true);
                return Task.CompletedTask;
            }
            ));
            progress.Step($"certificates in {plan.CertPath}");
            EndpointSettings.InstallGivenFiles(plan);

            var record = plan.Settings.With(new VchSettings { ImageStore = where.Datastore, Datacenter = where.DatacenterPath, CertPath = plan.CertPath, Version = Installation.Version, ParentPool = where.ParentPoolPath, LocalEndpoint = !plan.Appliance }).ToRecord();
            await session.UploadAsync(where.DatacenterPath, where.Datastore, $"{plan.Name}/{RecordFile}", new MemoryStream(Encoding.UTF8.GetBytes(record)), cancellationToken).ConfigureAwait(false);

            if (plan.Appliance)
            {
                var appliance = new ApplianceDeployer(plan, progress);
                var site = new ApplianceSite(where.DatacenterPath, where.Datacenter, pool, where.Datastore);
                await appliance.DeployAsync(session, site, ApplianceArguments(where), Placement.Session.Password, undo, cancellationToken).ConfigureAwait(false);
                await appliance.WaitForApiAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await EndpointLauncher.StartAsync(plan, progress, EndpointArguments(where), new Dictionary<string, string> { ["VIC_PASSWORD"] = Placement.Session.Password }, cancellationToken).ConfigureAwait(false);
                progress.Step($"endpoint listening on {plan.Endpoint}");
            }
        }
        catch (Exception ex) when (ex is MachineException or VimFaultException or VimProtocolException or HttpRequestException or IOException or OperationCanceledException)
        {
            // Past --timeout too: what was made is undone before the timeout is reported.
            while (undo.TryPop(out var step))
            {
                try
                {
                    await step.Action().ConfigureAwait(false);
                    progress.Step($"rolled back {step.What}");
                }
                catch (Exception rollback) when (rollback is VimFaultException or VimProtocolException or HttpRequestException or IOException)
                {
                    progress.Step($"could not roll back {step.What}: {rollback.Message}");
                }
            }

            if (ex is OperationCanceledException)
            {
                throw;
            }

            throw new MachineException($"create failed: {ex.Message}");
        }
    }

    /// <summary>Stops the endpoint and removes the VCH's ContainerVMs, pool, datastore folder and local files.</summary>
    /// <param name="force">Delete even while containers run (VIC's <c>--force</c>).</param>
    public async Task DeleteAsync(bool force, CancellationToken cancellationToken)
    {
        await using var session = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var (where, record) = await FindAsync(session, cancellationToken).ConfigureAwait(false);
        var certPath = record.CertPath ?? plan.CertPath;
        var recorded = VchPlan.Validate(record.With(new VchSettings { Password = Placement.Session.Password, Target = plan.Settings.Target, CertPath = certPath }), forCreate: false);
        await VchApiClient.RefuseWhileContainersRunAsync(recorded, force, progress, cancellationToken).ConfigureAwait(false);
        if (await EndpointLauncher.StopAsync(certPath).ConfigureAwait(false))
        {
            progress.Step("stopped the endpoint");
        }

        if (await session.FindByInventoryPathAsync(where.PoolPath(plan.Name), cancellationToken).ConfigureAwait(false) is { } pool)
        {
            // The appliance first: its endpoint, still running, could otherwise start a container (a restart policy) being removed.
            var vms = (await session.ListAsync("VirtualMachine", ["name", "runtime.powerState"], cancellationToken, pool).ConfigureAwait(false)).OrderBy(vm => vm.Text("name") == plan.Name ? 0 : 1);
            foreach (var vm in vms)
            {
                if (vm.Text("runtime.powerState") == "poweredOn")
                {
                    await session.PowerOffVmAsync(vm.Obj, cancellationToken).ConfigureAwait(false);
                }

                await session.DestroyAsync(vm.Obj, cancellationToken).ConfigureAwait(false);
                progress.Step($"removed VM {vm.Text("name")}");
            }

            await session.DestroyAsync(pool, cancellationToken).ConfigureAwait(false);
            progress.Step($"removed resource pool {where.PoolPath(plan.Name)}");
        }

        await session.DeleteDatastoreFileAsync(Datastores.DatastorePath(where.Datastore, plan.Name), where.Datacenter, cancellationToken).ConfigureAwait(false);
        progress.Step($"removed [{where.Datastore}] {plan.Name}");
        if (Directory.Exists(certPath))
        {
            Directory.Delete(certPath, recursive: true);
            progress.Step($"removed {certPath}");
        }
    }

    /// <summary>The VCH's record and how to reach it.</summary>
    public async Task<(VchSettings Record, string Datastore, bool Running, PoolLimits Limits)> InspectAsync(CancellationToken cancellationToken)
    {
        await using var session = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var (where, record) = await FindAsync(session, cancellationToken).ConfigureAwait(false);
        var pool = await session.FindByInventoryPathAsync(where.PoolPath(plan.Name), cancellationToken).ConfigureAwait(false)
            ?? throw new MachineException($"the VCH {plan.Name} has a record but no resource pool: delete it and create it again");
        var limits = await session.ReadLimitsAsync(pool, cancellationToken).ConfigureAwait(false);
        var running = record.InAppliance()
            ? (await session.ListAsync("VirtualMachine", ["name", "runtime.powerState"], cancellationToken, pool).ConfigureAwait(false)).Any(vm => vm.Text("name") == plan.Name && vm.Text("runtime.powerState") == "poweredOn")
            : EndpointLauncher.IsRunning(record.CertPath ?? plan.CertPath);
        return (record, where.Datastore, running, limits);
    }

    /// <summary>The VCHs under the compute resource (or in the whole datacenter): pools whose folder on a datastore holds a VCH record.</summary>
    public async Task<IReadOnlyList<VchListing>> ListAsync(CancellationToken cancellationToken)
    {
        await using var session = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var where = await LocateAsync(session, null, cancellationToken).ConfigureAwait(false);

        // Without --compute-resource: every pool of the datacenter (VIC's ls needs none either).
        var pools = where.Place is { } place
            ? (await session.ListAsync("ResourcePool", ["name", "parent"], cancellationToken, place.ParentPool).ConfigureAwait(false)).Where(p => p.Ref("parent") == place.ParentPool)
            : (await session.ListAsync("ResourcePool", ["name", "parent"], cancellationToken, where.Datacenter).ConfigureAwait(false)).Where(p => p.Ref("parent")?.Type == "ResourcePool");
        var found = new List<VchListing>();
        foreach (var pool in pools)
        {
            var name = pool.Text("name") ?? "";
            foreach (var datastore in where.Datastores)
            {
                if (await session.DownloadAsync(where.DatacenterPath, datastore, $"{name}/{RecordFile}", cancellationToken).ConfigureAwait(false) is { } bytes)
                {
                    var record = VchSettings.FromRecord(Encoding.UTF8.GetString(bytes));
                    found.Add(new VchListing(pool.Obj.Value, record.ParentPool ?? where.Place?.ParentPoolPath, name, datastore, record.Version));
                }
            }
        }

        return found;
    }

    /// <summary>Changes the pool's limits and the registries; the endpoint is restarted with them.</summary>
    public async Task ConfigureAsync(VchSettings changes, CancellationToken cancellationToken)
    {
        await using var session = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var (where, record) = await FindAsync(session, cancellationToken).ConfigureAwait(false);
        var updated = record.With(changes);
        var pool = await session.FindByInventoryPathAsync(where.PoolPath(plan.Name), cancellationToken).ConfigureAwait(false)
            ?? throw new MachineException($"the VCH {plan.Name} has no resource pool");
        await session.UpdatePoolAsync(pool, null, new PoolLimits(updated.Cpu, updated.Memory ?? 4096), cancellationToken).ConfigureAwait(false);
        progress.Step($"pool limits: CPU {Describe(updated.Cpu, "MHz")}, memory {updated.Memory ?? 4096} MB");
        await SaveAndRestartAsync(session, where, updated, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Uploads the ISO again (a new ContainerVM kernel and tether) and restarts the endpoint. The
    /// VCH's parent and template ran the old ISO, and every new ContainerVM would be forked or cloned
    /// from them: they are removed while the endpoint is down, and the new endpoint makes them again
    /// from the new ISO. Running containers keep their VMs and are re-attached.
    /// </summary>
    public async Task UpgradeAsync(CancellationToken cancellationToken)
    {
        await using var session = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var (where, record) = await FindAsync(session, cancellationToken).ConfigureAwait(false);
        await UploadIsoAsync(session, where, cancellationToken).ConfigureAwait(false);
        await SaveAndRestartAsync(session, where, record, cancellationToken, whileStopped: () => RetireOldIsoVmsAsync(session, where, cancellationToken), upgrading: true).ConfigureAwait(false);
    }

    /// <summary>The VCH's parent and template, the VMs new ContainerVMs come from: made from the ISO they booted.</summary>
    private async Task RetireOldIsoVmsAsync(VimSession session, Where where, CancellationToken cancellationToken)
    {
        if (await session.FindByInventoryPathAsync(where.PoolPath(plan.Name), cancellationToken).ConfigureAwait(false) is not { } pool)
        {
            return;
        }

        foreach (var vm in await session.ListAsync("VirtualMachine", ["name", "runtime.powerState"], cancellationToken, pool).ConfigureAwait(false))
        {
            if (vm.Text("name") is not { } name || (name != $"{plan.Name}-parent" && name != $"{plan.Name}-template"))
            {
                continue;
            }

            try
            {
                if (vm.Text("runtime.powerState") == "poweredOn")
                {
                    await session.PowerOffVmAsync(vm.Obj, cancellationToken).ConfigureAwait(false);
                }

                await session.DestroyAsync(vm.Obj, cancellationToken).ConfigureAwait(false);
                progress.Step($"removed {name}, made from the old ISO (the endpoint makes it again)");
            }
            catch (VimFaultException ex)
            {
                // A task of the stopped endpoint's still holds it, say: the upgrade goes on, and the
                // admin is told which VM still runs the old ISO.
                progress.Step($"WARNING: could not remove {name} ({ex.Message}): new ContainerVMs come from the old ISO until it is removed");
            }
        }
    }

    /// <param name="upgrading">Upgrade: an appliance gets the new appliance.iso too.</param>
    private async Task SaveAndRestartAsync(VimSession session, Where where, VchSettings record, CancellationToken cancellationToken, Func<Task>? whileStopped = null, bool upgrading = false)
    {
        await session.UploadAsync(where.DatacenterPath, where.Datastore, $"{plan.Name}/{RecordFile}", new MemoryStream(Encoding.UTF8.GetBytes(record.ToRecord())), cancellationToken).ConfigureAwait(false);
        var certPath = record.CertPath ?? plan.CertPath;
        var restarted = VchPlan.Validate(
            record.With(new VchSettings { Password = Placement.Session.Password, Target = plan.Settings.Target, CertPath = certPath, ApplianceIso = plan.Settings.ApplianceIso }),
            forCreate: false,
            withIso: upgrading && record.InAppliance());
        if (restarted.Appliance)
        {
            await new VsphereInstaller(restarted, progress).RestartApplianceAsync(session, where, upgrading, whileStopped, cancellationToken).ConfigureAwait(false);
            return;
        }

        await EndpointLauncher.StopAsync(certPath).ConfigureAwait(false);
        if (whileStopped is not null && !EndpointLauncher.IsRunning(certPath))
        {
            await WhileStoppedAsync(whileStopped).ConfigureAwait(false);
        }

        await EndpointLauncher.StartAsync(restarted, progress, new VsphereInstaller(restarted, progress).EndpointArguments(where), new Dictionary<string, string> { ["VIC_PASSWORD"] = Placement.Session.Password }, cancellationToken).ConfigureAwait(false);
        progress.Step($"endpoint restarted on {restarted.Endpoint}");
    }

    private async Task WhileStoppedAsync(Func<Task> whileStopped)
    {
        try
        {
            await whileStopped().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Http.HttpRequestException or TimeoutException)
        {
            // The endpoint is started again whatever the clean-up met: a VCH is never left without one.
            progress.Step($"WARNING: {ex.Message}");
        }
    }

    private List<string> EndpointArguments(Where where) =>
    [
        .. EndpointSettings.Common(plan),
        "--backend", "vsphere", "--target", Placement.Session.Sdk.ToString(),
        .. VsphereArguments(where, Placement.ChannelAddress),
    ];

    private List<string> VsphereArguments(Where where, System.Net.IPAddress channelAddress) =>
    [
        "--user", Placement.Session.UserName,
        .. Placement.Session.Thumbprint is { } print ? (string[])["--thumbprint", print] : [],
        "--datacenter", where.DatacenterPath, "--compute-resource", where.ParentPoolPath, "--image-store", where.Datastore,
        "--channel-address", channelAddress.ToString(),
        .. plan.Settings.BridgeNetwork is { } bridge ? (string[])["--bridge-network", bridge] : [],
        .. plan.Settings.PublicNetwork is { } outside ? (string[])["--public-network", outside] : [],
        .. plan.Settings.PublicNetworkGateway is { } gateway ? (string[])["--public-network-gateway", gateway] : [],
        .. plan.Settings.PublicNetworkIpRange is { } range ? (string[])["--public-network-ip-range", range] : [],
        .. plan.Settings.PublicNetworkDns is { } dns ? (string[])["--public-network-dns", dns] : [],
        .. plan.Settings.ContainerNetwork.SelectMany(c => (string[])["--container-network", c]),
        .. plan.Settings.ContainerNetworkGateway.SelectMany(c => (string[])["--container-network-gateway", c]),
        .. plan.Settings.ContainerNetworkIpRange.SelectMany(c => (string[])["--container-network-ip-range", c]),
        .. plan.Settings.ContainerNetworkDns.SelectMany(c => (string[])["--container-network-dns", c]),
    ];

    private Task UploadIsoAsync(VimSession session, Where where, CancellationToken cancellationToken) =>
        session.UploadFileAsync(progress, where.DatacenterPath, where.Datastore, plan.Iso, plan.Name, "bootstrap.iso", cancellationToken);

    private PoolLimits Limits() => new(plan.CpuMhz, plan.MemoryMb);


    private static string Describe(long? value, string unit) => value is null ? "unlimited" : $"{value} {unit}";

    private Task<VimSession> ConnectAsync(CancellationToken cancellationToken) =>
        VimSession.ConnectAsync(Placement.Session, NullLogger.Instance, cancellationToken);

    /// <summary>The VCH's placement and record, found on the datastores of the datacenter.</summary>
    private async Task<(Where Where, VchSettings Record)> FindAsync(VimSession session, CancellationToken cancellationToken)
    {
        var located = await LocateAsync(session, null, cancellationToken).ConfigureAwait(false);
        foreach (var datastore in string.IsNullOrEmpty(Placement.ImageStore) ? located.Datastores : [Placement.ImageStore])
        {
            if (await session.DownloadAsync(located.DatacenterPath, datastore, $"{plan.Name}/{RecordFile}", cancellationToken).ConfigureAwait(false) is { } bytes)
            {
                return (located with { Datastore = datastore }, VchSettings.FromRecord(Encoding.UTF8.GetString(bytes)));
            }
        }

        throw new MachineException($"no VCH named {plan.Name} under {located.ComputeResourcePath}");
    }

    private async Task<Where> LocateAsync(VimSession session, string? datastore, CancellationToken cancellationToken)
    {
        var datacenters = await session.ListAsync("Datacenter", ["name"], cancellationToken).ConfigureAwait(false);
        var datacenterPath = Placement.Datacenter ?? ComputeResourceLocator.DatacenterOf(Placement.ComputeResource ?? "") ?? (datacenters.Count == 1
            ? datacenters[0].Text("name")!
            : throw new MachineException($"the target has {datacenters.Count} datacenters: give --datacenter ({string.Join(", ", datacenters.Select(d => d.Text("name")))})"));
        var datacenter = await session.FindByInventoryPathAsync(datacenterPath, cancellationToken).ConfigureAwait(false)
            ?? throw new MachineException($"--datacenter {datacenterPath}: no such datacenter");
        var place = Placement.ComputeResource is { } given
            ? await ComputeResourceLocator.LocateAsync(session, datacenterPath, given, cancellationToken).ConfigureAwait(false)
            : null;
        var datastores = (await session.ListAsync("Datastore", ["name"], cancellationToken, datacenter).ConfigureAwait(false)).Select(d => d.Text("name")!).ToList();
        if (datastore is { Length: > 0 } && !datastores.Contains(datastore))
        {
            throw new MachineException($"--image-store {datastore}: no such datastore in {datacenterPath} ({string.Join(", ", datastores)})");
        }

        return new Where(datacenterPath, datacenter, place, datastore ?? "", datastores);
    }

    /// <param name="Place">The compute resource and pool; null only for ls across the datacenter.</param>
    private sealed record Where(string DatacenterPath, ManagedObjectReference Datacenter, ComputeResourcePlace? Place, string Datastore, IReadOnlyList<string> Datastores)
    {
        private ComputeResourcePlace Located => Place ?? throw new MachineException("--compute-resource is required for a vSphere target (a cluster, host or resource pool)");

        public string ComputeResourcePath => Located.ComputeResourcePath;

        public string ParentPoolPath => Located.ParentPoolPath;

        public ManagedObjectReference RootPool => Located.ParentPool;

        public string PoolPath(string name) => $"{ParentPoolPath}/{name}";
    }
}
