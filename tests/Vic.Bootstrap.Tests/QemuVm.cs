using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Vic.Bootstrap.Tests;

/// <summary>
/// A QEMU guest under TCG (KVM guests hang on these machines) with its serial console on stdout;
/// every console line is kept with the time since QEMU started.
/// </summary>
public sealed class QemuVm : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Stopwatch _clock;
    private readonly List<(TimeSpan At, string Line)> _lines = [];
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private QemuVm(Process process, Stopwatch clock)
    {
        _process = process;
        _clock = clock;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data is null ? null : "[qemu] " + e.Data);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => _exited.TrySetResult();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (process.HasExited)
        {
            _exited.TrySetResult();
        }
    }

    /// <summary>The console so far, one line each.</summary>
    public string Console
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines.Select(l => l.Line));
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Arguments every boot test shares: TCG, no default devices, console on stdout, no reboot loop.</summary>
    public static List<string> BaseArguments(string machine = "pc", int memoryMib = 256) =>
    [
        "-accel", "tcg", "-machine", machine, "-m", memoryMib.ToString(), "-nodefaults", "-display", "none",
        "-no-reboot", "-serial", "stdio", "-monitor", "none",
    ];

    /// <summary>A virtio-serial port named vic.channel backed by a unix socket QEMU listens on.</summary>
    public static IEnumerable<string> ChannelArguments(string socketPath) =>
    [
        "-device", "virtio-serial-pci,id=vs0",
        "-chardev", $"socket,id=vic,path={socketPath},server=on,wait=off",
        "-device", "virtserialport,bus=vs0.0,chardev=vic,name=vic.channel",
    ];

    public static QemuVm Start(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var clock = Stopwatch.StartNew();
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start qemu-system-x86_64");
        return new QemuVm(process, clock);
    }

    /// <summary>Waits for a console line containing <paramref name="text"/>; returns when (since QEMU started) it came.</summary>
    public async Task<TimeSpan> WaitForLineAsync(string text, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            lock (_lines)
            {
                foreach (var (at, line) in _lines)
                {
                    if (line.Contains(text, StringComparison.Ordinal))
                    {
                        return at;
                    }
                }
            }

            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"no console line with \"{text}\" in {timeout.TotalSeconds} s; console:\n{Console}");
            }

            if (_exited.Task.IsCompleted)
            {
                // Let the last output drain before giving up.
                await Task.Delay(200);
                if (!ContainsLine(text))
                {
                    throw new InvalidOperationException($"qemu exited ({_process.ExitCode}) without a console line with \"{text}\"; console:\n{Console}");
                }

                continue;
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Waits for QEMU to exit by itself (the guest powered off); returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        var finished = await Task.WhenAny(_exited.Task, Task.Delay(timeout));
        if (finished != _exited.Task)
        {
            throw new TimeoutException($"the VM did not power off within {timeout.TotalSeconds} s; console:\n{Console}");
        }

        await _process.WaitForExitAsync(); // drains stdout and stderr
        return _process.ExitCode;
    }

    /// <summary>Connects to a unix socket QEMU serves (retrying while QEMU creates it).</summary>
    public static async Task<Socket> ConnectAsync(string path, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                return socket;
            }
            catch (SocketException) when (deadline.Elapsed < timeout)
            {
                socket.Dispose();
                await Task.Delay(20);
            }
        }
    }

    /// <summary>Reads one line (up to '\n') from a socket.</summary>
    public static async Task<string> ReadLineAsync(Socket socket, TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        var line = new StringBuilder();
        var buffer = new byte[1];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, limit.Token);
            if (n == 0 || buffer[0] == '\n')
            {
                return line.ToString();
            }

            line.Append((char)buffer[0]);
        }
    }

    /// <summary>Runs one QMP command on a fresh QMP connection; returns the "return" member.</summary>
    public static async Task<JsonNode?> QmpAsync(string path, string command, JsonObject? arguments = null)
    {
        using var socket = await ConnectAsync(path, TimeSpan.FromSeconds(10));
        await ReadLineAsync(socket, TimeSpan.FromSeconds(10)); // greeting
        await SendAsync(socket, new JsonObject { ["execute"] = "qmp_capabilities" });
        await ReadReplyAsync(socket);
        var request = new JsonObject { ["execute"] = command };
        if (arguments is not null)
        {
            request["arguments"] = arguments;
        }

        await SendAsync(socket, request);
        return await ReadReplyAsync(socket);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static async Task SendAsync(Socket socket, JsonObject message) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString() + "\n"), SocketFlags.None);

    private static async Task<JsonNode?> ReadReplyAsync(Socket socket)
    {
        while (true)
        {
            var reply = JsonNode.Parse(await ReadLineAsync(socket, TimeSpan.FromSeconds(10)))!;
            if (reply["event"] is not null)
            {
                continue;
            }

            if (reply["error"] is { } error)
            {
                throw new InvalidOperationException($"QMP error: {error.ToJsonString()}");
            }

            return reply["return"];
        }
    }

    private bool ContainsLine(string text)
    {
        lock (_lines)
        {
            return _lines.Exists(l => l.Line.Contains(text, StringComparison.Ordinal));
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Add((_clock.Elapsed, line));
        }
    }
}
