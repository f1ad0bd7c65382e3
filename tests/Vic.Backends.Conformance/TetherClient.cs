using System.Text;
using Vic.Interaction;

namespace Vic.Backends.Conformance;

/// <summary>What one session printed and how it ended.</summary>
public sealed record SessionResult(string Stdout, string Stderr, int ExitCode);

/// <summary>
/// Plays the endpoint's side of the interaction protocol in tests: sends specs, stdin, signals and
/// execs, and collects each session's output until its exit.
/// </summary>
public sealed class TetherClient : IAsyncDisposable
{
    private readonly Stream _channel;
    private readonly FrameWriter _writer;
    private readonly Dictionary<uint, (StringBuilder Out, StringBuilder Err, TaskCompletionSource<int> Exit)> _sessions = [];
    private readonly TaskCompletionSource<StatsReport> _stats = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<StateReport> _state = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _hello = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reading;

    public TetherClient(Stream channel)
    {
        _channel = channel;
        _writer = new FrameWriter(channel);
        _reading = Task.Run(ReadAsync);
    }

    public List<string> Errors { get; } = [];

    /// <summary>
    /// Sends the spec once the tether has said hello, as the endpoint does: a serial line (vSphere)
    /// keeps nothing sent before the tether opens it.
    /// </summary>
    public async Task SendSpecAsync(ContainerSpec spec)
    {
        Track(Frame.MainSession);
        if (!_hello.Task.IsCompleted)
        {
            // A tether that said hello before we connected (a restored clone) says it again when asked.
            await _writer.WriteAsync(FrameType.Attach, 0, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        }

        await _hello.Task.WaitAsync(TimeSpan.FromSeconds(120)).ConfigureAwait(false);
        await _writer.WriteAsync(FrameType.Spec, 0, Payloads.Json(spec, InteractionJson.Default.ContainerSpec), CancellationToken.None).ConfigureAwait(false);
    }

    public Task ExecAsync(uint session, ExecSpec exec)
    {
        Track(session);
        return _writer.WriteAsync(FrameType.Exec, session, Payloads.Json(exec, InteractionJson.Default.ExecSpec), CancellationToken.None).AsTask();
    }

    public Task StdinAsync(uint session, string text) => _writer.WriteAsync(FrameType.Stdin, session, Encoding.UTF8.GetBytes(text), CancellationToken.None).AsTask();

    public Task CloseStdinAsync(uint session) => _writer.WriteAsync(FrameType.StdinClose, session, ReadOnlyMemory<byte>.Empty, CancellationToken.None).AsTask();

    public Task SignalAsync(uint session, int signal) => _writer.WriteAsync(FrameType.Signal, session, Payloads.Int32(signal), CancellationToken.None).AsTask();

    public Task ResizeAsync(uint session, int rows, int columns) => _writer.WriteAsync(FrameType.Resize, session, Payloads.Size(rows, columns), CancellationToken.None).AsTask();

    public async Task<StatsReport> StatsAsync()
    {
        await _writer.WriteAsync(FrameType.StatsRequest, 0, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        return await _stats.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }

    public async Task<StateReport> AttachAsync(TimeSpan? timeout = null)
    {
        await _writer.WriteAsync(FrameType.Attach, 0, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        return await _state.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }

    /// <summary>Waits for the session's exit and returns everything it printed.</summary>
    public async Task<SessionResult> WaitAsync(uint session, TimeSpan timeout)
    {
        var entry = Track(session);
        var code = await entry.Exit.Task.WaitAsync(timeout).ConfigureAwait(false);
        lock (_sessions)
        {
            return new SessionResult(entry.Out.ToString(), entry.Err.ToString(), code);
        }
    }

    public string Stdout(uint session)
    {
        lock (_sessions)
        {
            return Track(session).Out.ToString();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _reading.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or ProtocolException)
        {
        }

        _writer.Dispose();
    }

    private (StringBuilder Out, StringBuilder Err, TaskCompletionSource<int> Exit) Track(uint session)
    {
        lock (_sessions)
        {
            if (!_sessions.TryGetValue(session, out var entry))
            {
                entry = (new StringBuilder(), new StringBuilder(), new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously));
                _sessions[session] = entry;
            }

            return entry;
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            await ReadFramesAsync().ConfigureAwait(false);
            FailWaiters(new IOException("the tether closed the channel"));
        }
        catch (Exception ex)
        {
            FailWaiters(ex);
            throw;
        }
    }

    /// <summary>A channel that ends fails whoever still waits, with why, instead of leaving them to time out.</summary>
    private void FailWaiters(Exception why)
    {
        _stats.TrySetException(why);
        _state.TrySetException(why);
        _hello.TrySetException(why);
        lock (_sessions)
        {
            foreach (var entry in _sessions.Values)
            {
                entry.Exit.TrySetException(why);
            }
        }
    }

    private async Task ReadFramesAsync()
    {
        var reader = new FrameReader(_channel);
        while (await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false) is { } frame)
        {
            switch (frame.Type)
            {
                case FrameType.Hello:
                    _hello.TrySetResult();
                    break;
                case FrameType.Stdout:
                    lock (_sessions)
                    {
                        Track(frame.Session).Out.Append(Encoding.UTF8.GetString(frame.Payload.Span));
                    }

                    break;
                case FrameType.Stderr:
                    lock (_sessions)
                    {
                        Track(frame.Session).Err.Append(Encoding.UTF8.GetString(frame.Payload.Span));
                    }

                    break;
                case FrameType.Exit:
                    Track(frame.Session).Exit.TrySetResult(Payloads.Int32(frame.Payload));
                    break;
                case FrameType.Stats:
                    _stats.TrySetResult(Payloads.Json(frame.Payload, InteractionJson.Default.StatsReport));
                    break;
                case FrameType.State:
                    _state.TrySetResult(Payloads.Json(frame.Payload, InteractionJson.Default.StateReport));
                    break;
                case FrameType.Error:
                    lock (Errors)
                    {
                        Errors.Add(Payloads.Text(frame.Payload));
                    }

                    break;
            }
        }
    }
}
