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
        System.Diagnostics.Process.GetProcessById(QemuVms.Pid(FolderOf(vmId))).Kill();
        return Task.CompletedTask;
    }

    protected override string Diagnose(string vmId)
    {
        var folder = FolderOf(vmId);
        var pid = QemuVms.Pid(folder);
        var alive = Directory.Exists($"/proc/{pid}");
        var console = File.ReadAllLines(Path.Combine(folder, "console.log"));
        return $"QEMU pid {pid} {(alive ? "runs" : "is gone")}; the console's last lines:\n{string.Join('\n', console.TakeLast(30))}";
    }

    private string FolderOf(string vmId) => QemuVms.FolderOf(Home.Combine("state"), vmId);
}
