using System.Diagnostics;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// One container process (the main one or an exec) started through vic-exec, with its stdio
/// pumped to frames of its session: pipes without a TTY (stdout and stderr apart), a pseudo-terminal
/// with one (one raw stream).
/// </summary>
internal sealed class ProcessSession : IDisposable
{
    private const int ChunkSize = FrameWriter.AtomicPayload;

    private readonly Process _process;
    private readonly Pty? _pty;
    private readonly Stream? _stdin;
    private readonly Task _pumps;

    private ProcessSession(uint session, Process process, Pty? pty, Task pumps)
    {
        Session = session;
        _process = process;
        _pty = pty;
        _pumps = pumps;
        _stdin = pty?.Stream ?? process.StandardInput.BaseStream;
    }

    public uint Session { get; }

    public int Pid => _process.Id;

    public int? ExitCode { get; private set; }

    public static ProcessSession Start(uint session, LaunchPlan plan, string vicExec, FrameWriter frames)
    {
        var pty = plan.Tty ? Pty.Open(plan.Rows, plan.Columns) : null;
        var start = new ProcessStartInfo(vicExec)
        {
            UseShellExecute = false,
            RedirectStandardInput = pty is null,
            RedirectStandardOutput = pty is null,
            RedirectStandardError = pty is null,
        };
        foreach (var argument in plan.VicExecArguments(pty?.SlavePath))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Clear();
        foreach (var variable in plan.Env)
        {
            var eq = variable.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                start.Environment[variable[..eq]] = variable[(eq + 1)..];
            }
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("vic-exec did not start");
        Task pumps;
        if (pty is null)
        {
            pumps = Task.WhenAll(
                PumpAsync(process.StandardOutput.BaseStream, FrameType.Stdout, session, frames),
                PumpAsync(process.StandardError.BaseStream, FrameType.Stderr, session, frames));
            if (!plan.OpenStdin)
            {
                process.StandardInput.Close();
            }
        }
        else
        {
            // Reads of a pty master block; a thread of its own keeps the thread pool free.
            pumps = Task.Factory.StartNew(() => PumpPty(pty, session, frames), TaskCreationOptions.LongRunning);
        }

        return new ProcessSession(session, process, pty, pumps);
    }

    /// <summary>
    /// Waits until vic-exec's child has executed the container's program (its name is no longer
    /// vic-exec), the program failed to start, or <paramref name="limit"/> passed. dockerd answers a
    /// start once runc has executed the process, so `docker top` right after `docker run -d` sees it;
    /// "started" here means the same.
    /// </summary>
    public async Task WaitForExecAsync(TimeSpan limit)
    {
        var deadline = Stopwatch.StartNew();
        var wait = TimeSpan.FromMilliseconds(1);
        while (deadline.Elapsed < limit && !_process.HasExited)
        {
            if (ChildHasExecuted(_process.Id))
            {
                return;
            }

            await Task.Delay(wait).ConfigureAwait(false);
            wait = TimeSpan.FromMilliseconds(Math.Min(wait.TotalMilliseconds * 2, 20));
        }
    }

    private static bool ChildHasExecuted(int vicExec)
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var close = stat.LastIndexOf(')');
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                if (open < 0 || close < open)
                {
                    continue;
                }

                var fields = stat[(close + 2)..].Split(' ');
                if (fields.Length > 1 && fields[1] == vicExec.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    return stat[(open + 1)..close] != "vic-exec";
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return false;
    }

    /// <summary>Waits for the process and the last of its output; returns its exit status.</summary>
    public async Task<int> WaitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);

        // A background child may hold the pipes open; the exit status must not wait for it forever.
        await Task.WhenAny(_pumps, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
        ExitCode = _process.ExitCode;
        return ExitCode.Value;
    }

    public async Task WriteStdinAsync(ReadOnlyMemory<byte> data)
    {
        if (_stdin is { CanWrite: true })
        {
            try
            {
                await _stdin.WriteAsync(data).ConfigureAwait(false);
                await _stdin.FlushAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The process closed its stdin or ended; Docker drops such input too.
            }
        }
    }

    public void CloseStdin()
    {
        if (_pty is not null)
        {
            // A TTY has no half-close; ^D at the start of a line is the terminal's end of input.
            _ = WriteStdinAsync(new byte[] { 4 });
            return;
        }

        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }
    }

    public void Signal(int signal)
    {
        if (ExitCode is null)
        {
            Native.kill(_process.Id, signal);
        }
    }

    public void Resize(int rows, int columns) => _pty?.Resize(rows, columns);

    public void Dispose()
    {
        _pty?.Dispose();
        _process.Dispose();
    }

    private static async Task PumpAsync(Stream source, FrameType type, uint session, FrameWriter frames)
    {
        var buffer = new byte[ChunkSize];
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                await frames.WriteAsync(type, session, buffer.AsMemory(0, read), CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (IOException)
        {
        }
    }

    private static void PumpPty(Pty pty, uint session, FrameWriter frames)
    {
        var buffer = new byte[ChunkSize];
        try
        {
            int read;
            while ((read = pty.Stream.Read(buffer)) > 0)
            {
                frames.WriteAsync(FrameType.Stdout, session, buffer.AsMemory(0, read), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            }
        }
        catch (IOException)
        {
            // EIO: the last process holding the slave side is gone.
        }
    }
}
