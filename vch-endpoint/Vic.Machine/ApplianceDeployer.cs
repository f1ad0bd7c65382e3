using Vic.Vim25;

namespace Vic.Machine;

/// <summary>Where a VCH's appliance goes: the datacenter, the VCH's own pool, and the datastore folder of the VCH.</summary>
public sealed record ApplianceSite(string DatacenterPath, ManagedObjectReference Datacenter, ManagedObjectReference Pool, string Datastore);

/// <summary>
/// The VCH appliance, as VIC deployed it: a VM named after the VCH in the VCH's pool, booted from
/// appliance.iso on its CD, its configuration on a read-only disk (<see cref="ApplianceConfigDisk"/>),
/// its state on a data disk it formats the first time it boots, its NIC on the public port group.
/// The Docker API it serves is the one <c>--endpoint-address</c> names, which clients reach it by.
/// </summary>
public sealed class ApplianceDeployer(VchPlan plan, MachineProgress progress)
{
    /// <summary>The extraConfig key that marks a VM as the appliance of the VCH its value names.</summary>
    public const string ApplianceKey = "vic.appliance";

    public const string IsoFile = "appliance.iso";
    public const string ConfigDisk = "appliance-config.vmdk";
    public const string DataDisk = "appliance-data.vmdk";

    /// <summary>The vSphere password's file on the config disk.</summary>
    public const string PasswordFile = "vsphere-password";

    /// <summary>The data disk's SCSI unit, which the config names so /init formats that disk alone.</summary>
    public const int DataDiskUnit = 1;

    private const int ControllerKey = 1000;
    private const long DataDiskKb = 8L << 20;
    private const int MemoryMb = 2048;

    /// <summary>Uploads the ISO and the config disk, makes the VM and powers it on; each step is pushed on <paramref name="undo"/>.</summary>
    public async Task<ManagedObjectReference> DeployAsync(VimSession session, ApplianceSite site, IReadOnlyList<string> endpointArguments, string vspherePassword, Stack<(string What, Func<Task> Action)> undo, CancellationToken cancellationToken)
    {
        await session.UploadFileAsync(progress, site.DatacenterPath, site.Datastore, plan.ApplianceIso, plan.Name, IsoFile, cancellationToken).ConfigureAwait(false);

        await UploadConfigDiskAsync(session, site, endpointArguments, vspherePassword, cancellationToken).ConfigureAwait(false);
        progress.Step($"config disk [{site.Datastore}] {plan.Name}/{ConfigDisk}");

        var folder = await session.FindByInventoryPathAsync($"{site.DatacenterPath}/vm", cancellationToken).ConfigureAwait(false)
            ?? throw new MachineException($"vSphere has no VM folder {site.DatacenterPath}/vm");
        // The VM's files in a folder of their own inside the VCH's: removing the VM removes that folder alone.
        await session.MakeDirectoryAsync(Datastores.DatastorePath(site.Datastore, $"{plan.Name}/appliance"), site.Datacenter, cancellationToken).ConfigureAwait(false);
        var vm = await session.CreateVmAsync(folder, site.Pool, Spec(site), cancellationToken).ConfigureAwait(false);
        undo.Push(("the appliance VM", () => session.DestroyAsync(vm, CancellationToken.None)));
        progress.Step($"appliance VM {plan.Name} ({MemoryMb} MB, data disk {DataDiskKb >> 20} GB, NIC on {PublicNetwork})");

        await session.PowerOnVmAsync(vm, cancellationToken).ConfigureAwait(false);
        undo.Push(("the appliance's power", () => session.PowerOffVmAsync(vm, CancellationToken.None)));
        progress.Step($"appliance VM {plan.Name} powered on");
        return vm;
    }

    /// <summary>
    /// What configure and upgrade change of a powered-off appliance: its config disk written again
    /// (new arguments, certificates, password) and, on upgrade, a new appliance.iso on its CD. Its
    /// data disk, and with it the endpoint's state, is kept.
    /// </summary>
    public async Task RefreshAsync(VimSession session, ApplianceSite site, IReadOnlyList<string> endpointArguments, string vspherePassword, bool newIso, CancellationToken cancellationToken)
    {
        if (newIso)
        {
            await session.UploadFileAsync(progress, site.DatacenterPath, site.Datastore, plan.ApplianceIso, plan.Name, IsoFile, cancellationToken).ConfigureAwait(false);
        }

        await UploadConfigDiskAsync(session, site, endpointArguments, vspherePassword, cancellationToken).ConfigureAwait(false);
        progress.Step($"config disk [{site.Datastore}] {plan.Name}/{ConfigDisk} written again");
    }

    /// <summary>
    /// Waits until the appliance's Docker API answers on the address clients use, as VIC waited for
    /// its VCH: five minutes, then an error that names the address (a wrong one waits in vain).
    /// </summary>
    public async Task WaitForApiAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + ApiWait;
        while (await VchApiClient.RunningContainersAsync(plan, cancellationToken).ConfigureAwait(false) is null)
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new MachineException($"the appliance VM {plan.Name} is powered on, and its Docker API did not answer on {plan.DockerHost} within {ApiWait.TotalMinutes:0} minutes: is that the address its public NIC has (DHCP) or the NAT's, and is the port open from here?");
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }

        progress.Step($"the appliance serves the Docker API on {plan.DockerHost}");
    }

    private static readonly TimeSpan ApiWait = TimeSpan.FromMinutes(5);

    private string PublicNetwork => plan.Settings.PublicNetwork ?? plan.Settings.BridgeNetwork ?? "VM Network";

    private VmConfigSpec Spec(ApplianceSite site) => new()
    {
        Name = plan.Name,
        GuestId = "otherLinux64Guest",
        VmPathName = Datastores.DatastorePath(site.Datastore, $"{plan.Name}/appliance/{plan.Name}.vmx"),
        Cpus = 2,
        MemoryMb = MemoryMb,
        Devices =
        [
            DeviceChange.Add(new CdromIso(-1, Datastores.DatastorePath(site.Datastore, $"{plan.Name}/{IsoFile}"))),
            DeviceChange.Add(new ParaVirtualScsiController(ControllerKey)),
            DeviceChange.Add(new VirtualDiskDevice(-2, Datastores.DatastorePath(site.Datastore, $"{plan.Name}/{ConfigDisk}"), ControllerKey, 0, ApplianceConfigDisk.CapacityBytes / 1024, Thin: false)),
            DeviceChange.Add(new VirtualDiskDevice(-3, Datastores.DatastorePath(site.Datastore, $"{plan.Name}/{DataDisk}"), ControllerKey, DataDiskUnit, DataDiskKb), "create"),
            DeviceChange.Add(new Vmxnet3Nic(-4, PublicNetwork)),
        ],
        ExtraConfig = [new(ApplianceKey, plan.Name)],
    };

    private async Task UploadConfigDiskAsync(VimSession session, ApplianceSite site, IReadOnlyList<string> endpointArguments, string vspherePassword, CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("vic-appliance-config-");
        try
        {
            var flatName = ConfigDisk.Replace(".vmdk", "-flat.vmdk", StringComparison.Ordinal);
            var flat = Path.Combine(work.FullName, flatName);
            ApplianceConfigDisk.Write(flat, ConfigFiles(endpointArguments, vspherePassword));
            await using (var content = File.OpenRead(flat))
            {
                await session.UploadAsync(site.DatacenterPath, site.Datastore, $"{plan.Name}/{flatName}", content, cancellationToken).ConfigureAwait(false);
            }

            var descriptor = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(ApplianceConfigDisk.Descriptor(flatName, ApplianceConfigDisk.CapacityBytes)));
            await session.UploadAsync(site.DatacenterPath, site.Datastore, $"{plan.Name}/{ConfigDisk}", descriptor, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The proxies as the appliance's /init sources them (their URLs may hold a password: the
    /// endpoint's environment, not its arguments), a file root alone reads; null without proxies.
    /// </summary>
    public static ConfigFile? ProxyEnvironmentFile(VchPlan plan) =>
        EndpointSettings.ProxyEnvironment(plan) is { Count: > 0 } proxies
            ? ConfigFile.Text("proxy.env", string.Concat(proxies.Select(p => $"export {p.Key}='{p.Value.Replace("'", "'\\''", StringComparison.Ordinal)}'\n")), secret: true)
            : null;

    /// <summary>
    /// What the appliance reads: the endpoint's arguments one a line (so a port group's name may
    /// hold spaces), the vSphere password, the cert path's files the arguments name, the data
    /// disk's unit, and the static address's network.sh when there is one.
    /// </summary>
    private IEnumerable<ConfigFile> ConfigFiles(IReadOnlyList<string> endpointArguments, string vspherePassword)
    {
        yield return ConfigFile.Text("endpoint.args", string.Join('\n', endpointArguments) + "\n");
        yield return ConfigFile.Text(PasswordFile, vspherePassword + "\n", secret: true);
        yield return ConfigFile.Text("data-disk", $"{DataDiskUnit}\n");
        if (plan.StaticAddress is { } address)
        {
            yield return ConfigFile.Text("network.sh", address.NetworkScript());
        }

        if (ProxyEnvironmentFile(plan) is { } proxies)
        {
            yield return proxies;
        }

        foreach (var (file, secret) in new[] { (plan.ServerCertFile, false), (plan.ClientVerificationCaFile, false), (plan.RegistryCaFile, false), (plan.AuthzPolicyFile, false), (plan.ServerKeyFile, true), (plan.VicadminPasswordFile, true) })
        {
            if (File.Exists(file))
            {
                yield return new ConfigFile(Path.GetFileName(file), File.ReadAllBytes(file), secret);
            }
        }
    }
}
