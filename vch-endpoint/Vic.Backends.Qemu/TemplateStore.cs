using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>
/// Templates for instant clone: a ContainerVM booted once (no disks yet) until its tether waits for
/// a spec and the guest has gone idle, then saved with QEMU migration to a file. A template is keyed by everything that shapes
/// the machine (kernel, initramfs, memory, CPUs, accelerator, QEMU), so changing any of them builds
/// a new one.
/// </summary>
internal sealed partial class TemplateStore(QemuBackendOptions options, ILogger logger) : IDisposable
{
    private readonly SemaphoreSlim _building = new(1, 1);

    public string Directory => options.TemplateDirectory ?? Path.Combine(options.StateDirectory, "templates");

    /// <summary>The saved state of the template for these resources, building it if needed.</summary>
    public async Task<string> GetAsync(VmResources resources, string accelerator, CancellationToken cancellationToken)
    {
        var key = Key(resources, accelerator);
        var folder = new VmFolder(Path.Combine(Directory, key));
        var state = Path.Combine(folder.Path, "state");
        if (File.Exists(state))
        {
            return state;
        }

        await _building.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!File.Exists(state))
            {
                await BuildAsync(folder, resources, accelerator, state, cancellationToken).ConfigureAwait(false);
            }

            return state;
        }
        finally
        {
            _building.Release();
        }
    }

    public void Dispose() => _building.Dispose();

    public string Key(VmResources resources, string accelerator)
    {
        var material = string.Join('\n', Fingerprint(options.Kernel), Fingerprint(options.Initramfs), resources.Cpus, resources.MemoryBytes, accelerator, options.CommandLine, Fingerprint(QemuPath()), QemuCommand.MachineLayout);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(material)))[..16];
    }

    private async Task BuildAsync(VmFolder folder, VmResources resources, string accelerator, string state, CancellationToken cancellationToken)
    {
        var started = DateTime.UtcNow;
        System.IO.Directory.CreateDirectory(folder.Path);
        var pid = await QemuProcess.StartAsync(options.QemuBinary, QemuCommand.Build(options, folder, resources, accelerator, [], null), folder, cancellationToken).ConfigureAwait(false);
        try
        {
            await using var channel = await TetherProbe.ConnectAsync(folder.Channel, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            if (!await TetherProbe.WaitForHelloAsync(channel, options.BootTimeout, cancellationToken).ConfigureAwait(false))
            {
                throw new QemuException($"the template ContainerVM did not reach its tether within {options.BootTimeout.TotalSeconds:0} s; see {folder.Console}");
            }

            var settled = await GuestQuiescence.WaitAsync(pid, TimeSpan.FromMilliseconds(250), 0.1, TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
            Log.TemplateSettled(logger, folder.Path, settled.TotalSeconds);
            await using var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            await qmp.ExecuteAsync("stop", null, cancellationToken).ConfigureAwait(false);
            var partial = state + ".partial";
            await qmp.ExecuteAsync("migrate", new JsonObject { ["uri"] = $"exec:cat > {partial}" }, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                var status = (await qmp.ExecuteAsync("query-migrate", null, cancellationToken).ConfigureAwait(false))?["status"]?.GetValue<string>();
                if (status == "completed")
                {
                    break;
                }

                if (status is "failed" or "cancelled")
                {
                    throw new QemuException($"saving the template failed: migration {status}");
                }

                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            await qmp.ExecuteAsync("quit", null, cancellationToken).ConfigureAwait(false);
            File.Move(partial, state);
            Log.TemplateBuilt(logger, folder.Path, (DateTime.UtcNow - started).TotalSeconds);
        }
        finally
        {
            QemuProcess.Kill(pid, folder);
        }
    }

    private string QemuPath() =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, options.QemuBinary)).FirstOrDefault(File.Exists) ?? options.QemuBinary;

    private static string Fingerprint(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? $"{info.FullName}:{info.Length}:{info.LastWriteTimeUtc.Ticks}" : path;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "ContainerVM template {Folder} idle {Seconds:0.0} s after its tether answered; saving it")]
        public static partial void TemplateSettled(ILogger logger, string folder, double seconds);

        [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "built ContainerVM template {Folder} in {Seconds:0.0} s")]
        public static partial void TemplateBuilt(ILogger logger, string folder, double seconds);
    }
}
