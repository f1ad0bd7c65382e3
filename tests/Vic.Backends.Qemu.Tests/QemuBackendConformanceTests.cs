using Microsoft.Extensions.Logging.Abstractions;
using Vic.Backends.Conformance;
using Vic.PortLayer.Compute;
using Vic.TestSupport;

namespace Vic.Backends.Qemu.Tests;

/// <summary>The QEMU backend passes the conformance suite, under TCG, with instant clone on.</summary>
public sealed class QemuBackendConformanceTests : ComputeBackendConformance
{
    protected override VmResources Pool { get; } = new(4, 2L << 30);

    protected override IComputeBackend CreateBackend(string stateDirectory)
    {
        var (kernel, initramfs) = BootImages.EnsureBuiltAsync().GetAwaiter().GetResult();
        return new QemuBackend(
            new QemuBackendOptions(stateDirectory, kernel, initramfs, Pool, InstantClone: true, Accelerator: Accelerator.Tcg) { TemplateDirectory = BootImages.TemplateDirectory },
            NullLogger<QemuBackend>.Instance);
    }

    protected override Task KillBehindTheBackendsBackAsync(string vmId)
    {
        var folder = Directory.EnumerateDirectories(Path.Combine(Home.Combine("state"), "vms"))
            .Single(d => File.ReadAllText(Path.Combine(d, "vm.json")).Contains($"\"{vmId}\"", StringComparison.Ordinal));
        var pid = int.Parse(File.ReadAllText(Path.Combine(folder, "qemu.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        System.Diagnostics.Process.GetProcessById(pid).Kill();
        return Task.CompletedTask;
    }
}
