using System.Diagnostics;
using Vic.Vim25;

namespace Vic.TestSupport;

/// <summary>A powered-on VM played by the real tether on this host (host mode, in a busybox root of its own).</summary>
internal sealed class SimulatedTether : SimulatedGuests.IGuest
{
    private readonly Process _tether;
    private readonly SerialRelay _line;
    private readonly System.Text.StringBuilder _output = new();

    private SimulatedTether(Process tether, SerialRelay line)
    {
        _tether = tether;
        _line = line;
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static SimulatedTether Start(ManagedObjectReference vm, string home, Func<CancellationToken, Task<Stream>> connect, Func<ManagedObjectReference, Task> powerOff)
    {
        var root = BusyboxRoot.Create(Path.Combine(home, "root"));
        var channel = Path.Combine(home, "serial.sock");
        var line = new SerialRelay(channel, connect);
        var start = new ProcessStartInfo(Repository.Combine("iso", "out", "tether", "vic-tether")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["--root", root, "--channel", "unix:" + channel, "--vic-exec", Repository.Combine("iso", "out", "native", "vic-exec"), "--exit-with-main"])
        {
            start.ArgumentList.Add(argument);
        }

        var tether = Process.Start(start) ?? throw new InvalidOperationException("could not start the tether");
        var guest = new SimulatedTether(tether, line);
        tether.OutputDataReceived += (_, e) => guest.Append(e.Data);
        tether.ErrorDataReceived += (_, e) => guest.Append(e.Data);
        tether.BeginOutputReadLine();
        tether.BeginErrorReadLine();
        tether.EnableRaisingEvents = true;
        tether.Exited += (_, _) => _ = powerOff(vm);
        return guest;
    }

    /// <summary>The tether on this host uses the busybox root, not the VM's disks.</summary>
    public Task SyncDisksAsync(IReadOnlyList<GuestDisk> disks) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (!_tether.HasExited)
        {
            _tether.Kill();
        }

        await _line.DisposeAsync().ConfigureAwait(false);
        _tether.Dispose();
    }

    private void Append(string? text)
    {
        lock (_output)
        {
            _output.AppendLine(text);
        }
    }
}
