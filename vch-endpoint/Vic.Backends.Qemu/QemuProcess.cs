using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Vic.Backends.Qemu;

/// <summary>Starts QEMU daemonized (so ContainerVMs outlive the endpoint) and tells whether one still runs.</summary>
internal static class QemuProcess
{
    private const int SigCont = 18;
    private const int SigStop = 19;

    /// <summary>Runs QEMU with <c>-daemonize</c>; returns the pid of the VM once QEMU has set it up.</summary>
    /// <param name="group">The group QEMU runs with (<see cref="GuestIsolation"/>), set by setpriv before QEMU starts; null keeps the endpoint's.</param>
    public static async Task<int> StartAsync(string binary, IReadOnlyList<string> args, VmFolder folder, CancellationToken cancellationToken, int? group = null)
    {
        File.Delete(folder.PidFile);
        var start = new ProcessStartInfo(group is null ? binary : "setpriv") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (group is { } gid)
        {
            foreach (var arg in new[] { "--regid", gid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--clear-groups", "--", binary })
            {
                start.ArgumentList.Add(arg);
            }
        }

        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // One malloc arena: QEMU's threads each got one of their own, megabytes of every
        // ContainerVM's private memory for the little they allocate.
        start.Environment["MALLOC_ARENA_MAX"] = "1";

        using var process = Process.Start(start) ?? throw new QemuException($"could not start {binary}");
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        _ = process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new QemuException($"qemu failed to start the ContainerVM: {(await stderr.ConfigureAwait(false)).Trim()}");
        }

        var pid = int.Parse((await File.ReadAllTextAsync(folder.PidFile, cancellationToken).ConfigureAwait(false)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return pid;
    }

    /// <summary>True while <paramref name="pid"/> is the QEMU of this folder (not a reused pid).</summary>
    public static bool IsRunning(int? pid, VmFolder folder) => IsRunning(pid, folder.Path);

    /// <summary>True while <paramref name="pid"/> is a QEMU whose command line names <paramref name="launchFolder"/>.</summary>
    public static bool IsRunning(int? pid, string launchFolder)
    {
        if (pid is null)
        {
            return false;
        }

        try
        {
            var cmdline = File.ReadAllBytes($"/proc/{pid}/cmdline");
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // A zombie (state Z) is a QEMU that has ended but not been reaped yet.
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state != 'Z' && Encoding.UTF8.GetString(cmdline).Contains(launchFolder, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static void Kill(int? pid, VmFolder folder) => Kill(pid, folder.Path);

    public static void Kill(int? pid, string launchFolder)
    {
        if (IsRunning(pid, launchFolder))
        {
            try
            {
                Process.GetProcessById(pid!.Value).Kill();
            }
            catch (ArgumentException)
            {
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    /// <summary>
    /// Stops this folder's QEMU (SIGSTOP) or lets it go on (SIGCONT). A stopped QEMU uses no CPU; its
    /// guest sees only that time went by (TCG's clock is the host's), as after a host's hiccup.
    /// </summary>
    public static void Hold(int pid, VmFolder folder, bool hold)
    {
        if (IsRunning(pid, folder))
        {
            _ = kill(pid, hold ? SigStop : SigCont);
        }
    }

    [DllImport("libc")]
    private static extern int kill(int pid, int signal);
}
