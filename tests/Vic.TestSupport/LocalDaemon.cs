using System.Diagnostics;
using System.Net.Sockets;

namespace Vic.TestSupport;

/// <summary>
/// A peer's daemon run in the foreground for a test (NFS-Ganesha, tinyproxy): started, its output
/// drained, and waited for until it accepts connections on its loopback port; killed on dispose.
/// </summary>
public sealed class LocalDaemon : IAsyncDisposable
{
    private readonly Process _process;

    private LocalDaemon(Process process) => _process = process;

    /// <param name="log">What to say when it does not serve: its log, read then.</param>
    public static async Task<LocalDaemon> StartAsync(string program, IEnumerable<string> arguments, int port, Func<string> log)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var daemon = new LocalDaemon(process);
        for (var i = 0; i < 200 && !process.HasExited; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(System.Net.IPAddress.Loopback, port).ConfigureAwait(false);
                return daemon;
            }
            catch (SocketException)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
        }

        await daemon.DisposeAsync().ConfigureAwait(false);
        throw new InvalidOperationException($"{program} did not serve on port {port}: {log()}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process.Dispose();
    }
}
