using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;

namespace Vic.Backends.Qemu;

/// <summary>
/// Host folders shared with a ContainerVM over virtiofs: one virtiofsd per folder, serving a
/// vhost-user socket in the VM's folder, and a vhost-user-fs device in the VM. The daemons run in
/// their own session, like QEMU, so shares outlive an endpoint restart; each ends by itself when
/// its QEMU goes away, and is killed if it is still there when the VM is stopped.
/// </summary>
/// <remarks>
/// vhost-user needs the guest's memory shared with the daemon: a cold-booted ContainerVM's RAM is a
/// shared memfd, and a clone with shares maps a copy of the template's RAM shared (<see cref="GuestRam"/>). virtiofsd has no read-only mode: a read-only
/// share is mounted read-only by the tether.
/// </remarks>
internal static partial class SharedFolders
{
    private static readonly TimeSpan SocketWait = TimeSpan.FromSeconds(10);

    /// <summary>Refuses a share that cannot be served, and makes a missing folder where asked to (<c>-v</c>).</summary>
    public static void Prepare(SharedFolder share)
    {
        if (!Tag().IsMatch(share.Tag))
        {
            throw PortLayerException.InvalidParameter($"invalid shared folder tag {share.Tag}: 1-36 letters, digits, '-' or '_'");
        }

        if (!Path.IsPathFullyQualified(share.HostPath))
        {
            throw PortLayerException.InvalidParameter($"invalid mount path: '{share.HostPath}' mount path must be absolute");
        }

        if (!Directory.Exists(share.HostPath))
        {
            if (!share.CreateIfMissing || File.Exists(share.HostPath))
            {
                throw PortLayerException.InvalidParameter($"invalid mount config for type \"bind\": bind source path does not exist: {share.HostPath}");
            }

            Directory.CreateDirectory(share.HostPath);
        }
    }

    /// <summary>The QEMU arguments that plug the shares in at boot.</summary>
    public static IEnumerable<string> BootArguments(VmFolder folder, IReadOnlyList<SharedFolder> shares) =>
        shares.SelectMany((share, i) => new[]
        {
            "-chardev", $"socket,id=fs-{i},path={SocketOf(folder, i)}",
            "-device", Device(share, i).ToJsonString(),
        });

    /// <summary>Share i's device, in its own root port; the same JSON object for <c>-device</c> and <c>device_add</c>.</summary>
    private static JsonObject Device(SharedFolder share, int index) => new()
    {
        ["driver"] = "vhost-user-fs-pci",
        ["chardev"] = $"fs-{index}",
        ["tag"] = share.Tag,
        ["id"] = $"share-{index}",
        ["bus"] = QemuCommand.SharePort(index),
    };

    /// <summary>Plugs the shares into a running VM (an instant clone, restored without them).</summary>
    public static async Task HotAddAsync(QmpClient qmp, VmFolder folder, IReadOnlyList<SharedFolder> shares, CancellationToken cancellationToken)
    {
        for (var i = 0; i < shares.Count; i++)
        {
            await qmp.ExecuteAsync("chardev-add", new JsonObject
            {
                ["id"] = $"fs-{i}",
                ["backend"] = new JsonObject
                {
                    ["type"] = "socket",
                    ["data"] = new JsonObject
                    {
                        ["addr"] = new JsonObject { ["type"] = "unix", ["data"] = new JsonObject { ["path"] = SocketOf(folder, i) } },
                        ["server"] = false,
                    },
                },
            }, cancellationToken).ConfigureAwait(false);
            await qmp.ExecuteAsync("device_add", Device(shares[i], i), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Starts one virtiofsd per share and waits until each listens.</summary>
    public static async Task StartAsync(string daemon, VmFolder folder, IReadOnlyList<SharedFolder> shares, CancellationToken cancellationToken)
    {
        for (var i = 0; i < shares.Count; i++)
        {
            var socket = SocketOf(folder, i);
            File.Delete(socket);
            var log = Path.Combine(folder.Path, $"fs-{i}.log");
            var pid = await SpawnAsync(daemon, log, ["-f", $"--socket-path={socket}", "-o", $"source={shares[i].HostPath}", "-o", "cache=none"], cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(PidFileOf(folder, i), pid.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
            var deadline = DateTime.UtcNow + SocketWait;

            // Listening, not just bound: the file is there from bind(), and QEMU's connect before
            // listen() is refused ("chardev-add failed ... Connection refused"). A test connect
            // cannot tell: virtiofsd takes the first client as its VM and ends when it leaves.
            while (!IsListening(socket))
            {
                // Only whether it lives: while the shell execs into the daemon, its cmdline can read empty.
                if (!IsAlive(pid) || DateTime.UtcNow > deadline)
                {
                    Stop(folder);
                    var said = File.Exists(log) ? (await File.ReadAllTextAsync(log, cancellationToken).ConfigureAwait(false)).Trim() : "";
                    throw new QemuException($"virtiofsd could not share {shares[i].HostPath}: {(said.Length > 0 ? said : "it did not open its socket")}");
                }

                await Task.Delay(5, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The socket of a share whose daemon has ended while its VM may still use it, or null. The
    /// guest's virtiofs cannot reconnect (QEMU's vhost-user-fs has no reconnect), so every access to
    /// the folder would hang from then on.
    /// </summary>
    public static string? EndedShare(VmFolder folder)
    {
        if (!Directory.Exists(folder.Path))
        {
            return null;
        }

        foreach (var pidFile in Directory.EnumerateFiles(folder.Path, "fs-*.pid"))
        {
            var socket = Path.Combine(folder.Path, Path.GetFileNameWithoutExtension(pidFile) + ".sock");
            try
            {
                // Gone, not merely unlike a daemon: while the shell execs into one its cmdline reads empty.
                if (int.TryParse(File.ReadAllText(pidFile), CultureInfo.InvariantCulture, out var pid) && !IsAlive(pid))
                {
                    return socket;
                }
            }
            catch (IOException)
            {
                // Stopped and its pid file removed while we looked.
            }
        }

        return null;
    }

    /// <summary>Kills the VM's share daemons that are still running.</summary>
    public static void Stop(VmFolder folder)
    {
        if (!Directory.Exists(folder.Path))
        {
            return;
        }

        foreach (var pidFile in Directory.EnumerateFiles(folder.Path, "fs-*.pid"))
        {
            var index = Path.GetFileNameWithoutExtension(pidFile)[3..];
            if (int.TryParse(File.ReadAllText(pidFile), CultureInfo.InvariantCulture, out var pid) && IsDaemon(pid, Path.Combine(folder.Path, $"fs-{index}.sock")))
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill();
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
                {
                }
            }

            File.Delete(pidFile);
        }
    }

    /// <summary>
    /// Whether a Unix socket at <paramref name="path"/> listens: its line in /proc/net/unix
    /// (Num RefCount Protocol Flags Type St Inode Path) carries __SO_ACCEPTCON (0x10000) in Flags.
    /// </summary>
    internal static bool IsListening(string path, string table = "/proc/net/unix")
    {
        if (!File.Exists(path))
        {
            return false;
        }

        foreach (var line in File.ReadLines(table).Skip(1))
        {
            var fields = line.Split(' ', 8, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 8 && fields[7] == path
                && int.TryParse(fields[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var flags) && (flags & 0x10000) != 0)
            {
                return true;
            }
        }

        return false;
    }

    private static string SocketOf(VmFolder folder, int index) => Path.Combine(folder.Path, $"fs-{index}.sock");

    private static string PidFileOf(VmFolder folder, int index) => Path.Combine(folder.Path, $"fs-{index}.pid");

    /// <summary>
    /// Starts <paramref name="daemon"/> in a session of its own with its output in <paramref name="log"/>:
    /// nothing of the endpoint (not its stdio) stays open in it, and the shell's <c>$!</c> is its pid.
    /// </summary>
    private static async Task<int> SpawnAsync(string daemon, string log, IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("log=$1; shift; setsid \"$@\" </dev/null >\"$log\" 2>&1 & echo $!");
        start.ArgumentList.Add("vic-share");
        start.ArgumentList.Add(log);
        start.ArgumentList.Add(daemon);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var shell = Process.Start(start) ?? throw new QemuException("could not start /bin/sh");
        var output = await shell.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        var errors = await shell.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await shell.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return int.TryParse(output.Trim(), CultureInfo.InvariantCulture, out var pid)
            ? pid
            : throw new QemuException($"could not start {daemon}: {errors.Trim()}");
    }

    /// <summary>True while <paramref name="pid"/> is the daemon serving <paramref name="socket"/> (not a reused pid).</summary>
    private static bool IsDaemon(int pid, string socket)
    {
        try
        {
            return IsAlive(pid) && File.ReadAllText($"/proc/{pid}/cmdline").Contains(socket, StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>True while <paramref name="pid"/> runs (an ended process no one has reaped yet, state Z, does not).</summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,35}$")]
    private static partial Regex Tag();
}
