using System.Diagnostics;
using System.IO.Pipes;
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

    // Held while a pipe end meant for one vic-exec is inheritable, so no other spawn inherits it.
    private static readonly Lock SpawnLock = new();

    private readonly Process _process;
    private readonly Pty? _pty;
    private readonly Stream? _stdin;
    private readonly Task _pumps;
    private readonly AnonymousPipeServerStream _executed;

    private ProcessSession(uint session, Process process, Pty? pty, Task pumps, AnonymousPipeServerStream executed)
    {
        Session = session;
        _process = process;
        _executed = executed;
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

        // vic-exec's child holds the write end until its exec (close-on-exec there): end-of-file
        // on the read end is the moment the program runs, or the moment it failed to.
        Process process;
        AnonymousPipeServerStream executed;
        lock (SpawnLock)
        {
            executed = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
            start.ArgumentList.Insert(0, executed.GetClientHandleAsString());
            start.ArgumentList.Insert(0, "--exec-fd");
            try
            {
                process = Process.Start(start) ?? throw new InvalidOperationException("vic-exec did not start");
            }
            finally
            {
                executed.DisposeLocalCopyOfClientHandle();
            }
        }

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

        return new ProcessSession(session, process, pty, pumps, executed);
    }

    /// <summary>
    /// Waits until vic-exec's child has executed the container's program (the pipe vic-exec was
    /// given with <c>--exec-fd</c> reads end-of-file), the program failed to start, or
    /// <paramref name="limit"/> passed. dockerd answers a start once runc has executed the process,
    /// so `docker top` right after `docker run -d` sees it; "started" here means the same. (Polling
    /// /proc for the child's name cost ~150 ms of a start under TCG.)
    /// </summary>
    /// <returns>False when vic-exec said it could not exec the program (not found, not executable).</returns>
    public async Task<bool> WaitForExecAsync(TimeSpan limit)
    {
        // A blocking read of the pipe on a pool thread: it ends at end-of-file, which comes at the
        // exec or when the child ends (after a byte if the exec failed), and a child that hangs
        // before its exec is waited for no longer than the limit.
        var read = Task.Run(() => _executed.Read(new byte[1], 0, 1));
        try
        {
            return await read.WaitAsync(limit).ConfigureAwait(false) == 0;
        }
        catch (TimeoutException)
        {
            return true;
        }
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
        _executed.Dispose();
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

    /// <summary>How long a pty read waits for the rest of a write: the terminal turns "out\n" into "out" and "\r\n", which reads can see apart.</summary>
    private const int PtyGatherMs = 5;

    private static void PumpPty(Pty pty, uint session, FrameWriter frames)
    {
        var buffer = new byte[ChunkSize];
        try
        {
            int read;
            while ((read = pty.Stream.Read(buffer)) > 0)
            {
                // Gather what follows at once, so a client sees a line as one chunk, as from runc's console.
                while (read < buffer.Length && pty.Readable(PtyGatherMs))
                {
                    var more = pty.Stream.Read(buffer.AsSpan(read));
                    if (more <= 0)
                    {
                        break;
                    }

                    read += more;
                }

                frames.WriteAsync(FrameType.Stdout, session, buffer.AsMemory(0, read), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            }
        }
        catch (IOException)
        {
            // EIO: the last process holding the slave side is gone.
        }
    }
}
