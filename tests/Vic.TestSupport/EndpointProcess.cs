using System.Diagnostics;
using System.Text;
using Vic.Endpoint.Hosting;
using Vic.PortLayer.Networks;

namespace Vic.TestSupport;

/// <summary>
/// The endpoint as users run it: its own process (<c>dotnet vch-endpoint.dll ...</c>), on a free
/// loopback port, so tests can send it signals and restart it.
/// </summary>
public sealed class EndpointProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private EndpointProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; }

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

    public bool HasExited => _process.HasExited;

    /// <summary>The endpoint's resident memory now, from /proc (bytes).</summary>
    public long ResidentBytes
    {
        get
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }

    public int ExitCode => _process.ExitCode;

    public static string EndpointDll => typeof(VchEndpointHost).Assembly.Location;

    /// <summary>A free loopback port outside the ephemeral range, so no outgoing connection takes it before it is bound.</summary>
    public static int FreePort() => HostPorts.PickFree("tcp", "127.0.0.1", []);

    /// <summary>Starts the endpoint with <paramref name="arguments"/>; does not wait for it.</summary>
    public static EndpointProcess Launch(int port, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(EndpointDll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new EndpointProcess(Process.Start(start)!, port);
    }

    /// <summary>Starts the endpoint and waits until <paramref name="pingUrl"/> (or plain HTTP /_ping) answers.</summary>
    public static async Task<EndpointProcess> StartAsync(int port, string[] arguments, Func<Task<bool>>? isReady = null)
    {
        var endpoint = Launch(port, arguments);
        isReady ??= () => PingAsync(port);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (endpoint.HasExited)
            {
                throw new InvalidOperationException($"the endpoint exited with {endpoint.ExitCode}:\n{endpoint.Output}");
            }

            if (await isReady().ConfigureAwait(false))
            {
                return endpoint;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        await endpoint.DisposeAsync().ConfigureAwait(false);
        throw new TimeoutException($"the endpoint did not answer on port {port}:\n{endpoint.Output}");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs, as when the appliance loses power.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Stops the endpoint as its service manager would (SIGTERM), so it discards its ready clones: a
    /// SIGKILL leaves them running until an endpoint starts again over the same data, which a test's
    /// never does. One that has not stopped within 35 s (it gives itself 30) is killed.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await Command.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]).ConfigureAwait(false);
            try
            {
                await WaitForExitAsync(TimeSpan.FromSeconds(35)).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await KillAsync().ConfigureAwait(false);
            }
        }

        _process.Dispose();
    }

    private static async Task<bool> PingAsync(int port)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            return (await client.GetAsync(new Uri($"http://127.0.0.1:{port}/_ping")).ConfigureAwait(false)).IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
