using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Vic.Interaction;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>
/// Templates for instant clone: a ContainerVM booted once (no disks yet) until its tether waits for
/// a spec, made to rehearse a start (<see cref="FrameType.Rehearse"/>: what a first time costs is
/// paid once, not by every clone), and left until the guest has gone idle, then saved: its RAM is a file it mapped shared, its device
/// state a second file (<see cref="DeviceState"/>), and a third holds both, for clones that need RAM
/// of their own. A template is keyed by everything that shapes
/// the machine (kernel, initramfs, memory, CPUs, accelerator, QEMU), so changing any of them builds
/// a new one.
/// </summary>
internal sealed partial class TemplateStore(QemuBackendOptions options, ILogger logger) : IDisposable
{
    private readonly SemaphoreSlim _building = new(1, 1);

    public string Directory => options.TemplateDirectory ?? Path.Combine(options.StateDirectory, "templates");

    /// <summary>The saved template for these resources, building it if needed.</summary>
    public async Task<Template> GetAsync(VmResources resources, string accelerator, CancellationToken cancellationToken)
    {
        var folder = new VmFolder(Path.Combine(Directory, Key(resources, accelerator)));
        var template = new Template(Path.Combine(folder.Path, "state"), Path.Combine(folder.Path, "ram"), Path.Combine(folder.Path, "state-with-ram"));
        if (template.IsComplete)
        {
            return template;
        }

        await _building.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Backends that share a template directory (the tests' do) build one at a time across
            // processes too: two QEMUs on one folder fight over its pid file and RAM file.
            await using var crossProcess = await LockAsync(folder.Path + ".lock", cancellationToken).ConfigureAwait(false);
            if (!template.IsComplete)
            {
                await BuildAsync(folder, resources, accelerator, template, cancellationToken).ConfigureAwait(false);
            }

            return template;
        }
        finally
        {
            _building.Release();
        }
    }

    /// <summary>An exclusive lock on a file (flock, through FileShare.None), waited for.</summary>
    private static async Task<FileStream> LockAsync(string path, CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void Dispose() => _building.Dispose();

    public string Key(VmResources resources, string accelerator)
    {
        var material = string.Join('\n', Fingerprint(options.Kernel), Fingerprint(options.Initramfs), resources.Cpus, resources.MemoryBytes, accelerator, options.CommandLine, Fingerprint(QemuPath()), QemuCommand.MachineLayout);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(material)))[..16];
    }

    private async Task BuildAsync(VmFolder folder, VmResources resources, string accelerator, Template template, CancellationToken cancellationToken)
    {
        var started = DateTime.UtcNow;
        System.IO.Directory.CreateDirectory(folder.Path);

        // Unlinked, never rewritten in place: clones of an earlier build still map the old file
        // private, and read from it every page they have not written.
        File.Delete(template.State);
        File.Delete(template.Ram);
        var pid = await QemuProcess.StartAsync(options.QemuBinary, QemuCommand.Build(options, folder, resources, accelerator, [], GuestRam.SharedFile(template.Ram)), folder, cancellationToken, options.Isolation?.GroupId).ConfigureAwait(false);
        try
        {
            await using var channel = await TetherProbe.ConnectAsync(folder.Channel, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            var hello = await TetherProbe.WaitForHelloAsync(channel, options.BootTimeout, cancellationToken).ConfigureAwait(false)
                ?? throw new QemuException($"the template ContainerVM did not reach its tether within {options.BootTimeout.TotalSeconds:0} s; see {folder.Console}");
            Log.TemplateBooted(logger, folder.Path, hello.StartedAt, (hello.SentAt - hello.StartedAt) * 1000);
            if (!await TetherProbe.RehearseAsync(channel, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false))
            {
                throw new QemuException($"the template ContainerVM did not rehearse a start; see {folder.Console}");
            }

            var settled = await GuestQuiescence.WaitAsync(pid, TimeSpan.FromSeconds(1), 0.05, TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
            Log.TemplateSettled(logger, folder.Path, settled.TotalSeconds);
            await using var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            await qmp.ExecuteAsync("stop", null, cancellationToken).ConfigureAwait(false);
            await DeviceState.SaveAsync(qmp, template.StateWithRam, withRam: true, cancellationToken).ConfigureAwait(false);

            // QEMU saves a VM once: resumed and stopped again, it can be saved a second time. The
            // device state goes last, so it matches the RAM file as the VM leaves it.
            await qmp.ExecuteAsync("cont", null, cancellationToken).ConfigureAwait(false);
            await qmp.ExecuteAsync("stop", null, cancellationToken).ConfigureAwait(false);
            var partial = template.State + ".partial";
            await DeviceState.SaveAsync(qmp, partial, withRam: false, cancellationToken).ConfigureAwait(false);
            await qmp.ExecuteAsync("quit", null, cancellationToken).ConfigureAwait(false);

            // The state file's presence is what marks a template complete: the others are whole first.
            using (var ram = File.Open(template.Ram, FileMode.Open, FileAccess.ReadWrite))
            {
                ram.Flush(flushToDisk: true);
            }

            File.Move(partial, template.State);
            Log.TemplateBuilt(logger, folder.Path, (DateTime.UtcNow - started).TotalSeconds);
        }
        finally
        {
            QemuProcess.Kill(pid, folder);
        }
    }

    private string QemuPath() =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, options.QemuBinary)).FirstOrDefault(File.Exists) ?? options.QemuBinary;

    /// <summary>
    /// A file's content digest, read once per process for a path, size and time: the ISO build writes
    /// its files with a fixed time (reproducible), so a new tether of the same size must not be
    /// taken for the old one (its template would run the old tether).
    /// </summary>
    private static string Fingerprint(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return path;
        }

        var seen = $"{info.FullName}:{info.Length}:{info.LastWriteTimeUtc.Ticks}";
        return Digests.GetOrAdd(seen, _ =>
        {
            using var file = File.OpenRead(path);
            return $"{seen}:{Convert.ToHexStringLower(SHA256.HashData(file))}";
        });
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Digests = new(StringComparer.Ordinal);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "ContainerVM template {Folder}: the guest ran its tether {ExecSeconds:0.00} s after boot, which said hello {StartMs:0} ms later")]
        public static partial void TemplateBooted(ILogger logger, string folder, double execSeconds, double startMs);

        [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "ContainerVM template {Folder} idle {Seconds:0.0} s after its tether answered; saving it")]
        public static partial void TemplateSettled(ILogger logger, string folder, double seconds);

        [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "built ContainerVM template {Folder} in {Seconds:0.0} s")]
        public static partial void TemplateBuilt(ILogger logger, string folder, double seconds);
    }
}

/// <summary>A saved template: its device state, the RAM file clones map copy-on-write, and device state and RAM in one.</summary>
internal sealed record Template(string State, string Ram, string StateWithRam)
{
    /// <summary>
    /// The device state is written last, so its presence marks a whole template; the RAM file is
    /// checked too: a clone restored over a missing one (QEMU would make an empty file) never wakes.
    /// </summary>
    public bool IsComplete => File.Exists(State) && File.Exists(Ram) && File.Exists(StateWithRam);
}
