using System.Diagnostics;

namespace Vic.Machine;

/// <summary>
/// A VCH on this machine (<c>--target local</c>): ContainerVMs are QEMU processes, the pool is the
/// endpoint's own budget, and everything, the record included, lives under the cert path.
/// </summary>
public sealed class LocalInstaller(VchPlan plan, MachineProgress progress)
{
    private string RecordFile => Path.Combine(plan.CertPath, "vch.yaml");

    public async Task CreateAsync(CancellationToken cancellationToken)
    {
        var images = Path.GetDirectoryName(plan.Iso)!;
        var (kernel, initramfs) = (Path.Combine(images, "vmlinux"), Path.Combine(images, "initramfs.cpio"));
        if (!File.Exists(kernel) || !File.Exists(initramfs))
        {
            throw new MachineException($"a local VCH boots {kernel} and {initramfs}, which iso/build.sh makes beside the ISO");
        }

        if (File.Exists(RecordFile))
        {
            throw new MachineException($"{plan.CertPath} already holds a VCH: delete it first or choose another --cert-path");
        }

        Certificates.GenerateUnlessPlain(plan);
        progress.Step($"certificates in {plan.CertPath}");
        EndpointSettings.EnsureVicadminPassword(plan);
        EndpointSettings.InstallGivenFiles(plan);
        await File.WriteAllTextAsync(RecordFile, plan.Settings.With(new VchSettings { CertPath = plan.CertPath }).ToRecord(), cancellationToken).ConfigureAwait(false);
        try
        {
            await EndpointLauncher.StartAsync(plan, progress, [.. EndpointSettings.Common(plan), "--backend", "qemu", "--containervm-kernel", kernel, "--containervm-initramfs", initramfs], new Dictionary<string, string>(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MachineException or OperationCanceledException)
        {
            Directory.Delete(plan.CertPath, recursive: true);
            progress.Step($"rolled back {plan.CertPath}");
            throw;
        }

        progress.Step($"endpoint listening on {plan.Endpoint} (QEMU backend)");
    }

    /// <param name="force">Delete even while containers run (VIC's <c>--force</c>).</param>
    public async Task DeleteAsync(bool force, CancellationToken cancellationToken)
    {
        var recorded = VchPlan.Validate(Read().With(new VchSettings { Target = "local", CertPath = plan.CertPath }), forCreate: false);
        await VchApiClient.RefuseWhileContainersRunAsync(recorded, force, progress, cancellationToken).ConfigureAwait(false);

        if (await EndpointLauncher.StopAsync(plan.CertPath).ConfigureAwait(false))
        {
            progress.Step("stopped the endpoint");
        }

        // Its ContainerVMs outlive the endpoint by design; the VCH's end is theirs.
        using (var pkill = Process.Start("pkill", ["-f", $"qemu-system.*{Path.Combine(plan.CertPath, "data")}"]))
        {
            await pkill.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        Directory.Delete(plan.CertPath, recursive: true);
        progress.Step($"removed {plan.CertPath}");
    }

    public VchSettings Read() =>
        File.Exists(RecordFile) ? VchSettings.FromRecord(File.ReadAllText(RecordFile)) : throw new MachineException($"no local VCH in {plan.CertPath}");
}
