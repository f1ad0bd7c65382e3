using System.Text;
using Vic.Interaction;

namespace Vic.Backends.Conformance;

/// <summary>What one session printed and how it ended.</summary>
public sealed record SessionResult(string Stdout, string Stderr, int ExitCode);

/// <summary>
/// Plays the endpoint's side of the interaction protocol in tests, on the endpoint's own
/// <see cref="TetherConnection"/>: sends specs, stdin, signals and execs, and collects each
/// session's output until its exit.
/// </summary>
public sealed class TetherClient : IAsyncDisposable
{
    private readonly Stream _channel;
    private readonly TetherConnection _tether;
    private readonly Dictionary<uint, (StringBuilder Out, StringBuilder Err, TaskCompletionSource<int> Exit)> _sessions = [];
    private readonly TaskCompletionSource _hello = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reading;

    public TetherClient(Stream channel)
    {
        _channel = channel;
        _tether = new TetherConnection(channel);
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
            // A tether that said hello before we connected (a restored clone) says it again when
            // asked; one still booting says it on its own, which answers the Attach as well.
            await _tether.AttachAsync(TimeSpan.FromSeconds(120), CancellationToken.None).ConfigureAwait(false);
        }

        await _tether.SendAsync(FrameType.Spec, 0, Payloads.Json(spec, InteractionJson.Default.ContainerSpec), CancellationToken.None).ConfigureAwait(false);
    }

    public Task ExecAsync(uint session, ExecSpec exec)
    {
        Track(session);
        return _tether.SendAsync(FrameType.Exec, session, Payloads.Json(exec, InteractionJson.Default.ExecSpec), CancellationToken.None).AsTask();
    }

    public Task StdinAsync(uint session, string text) => _tether.SendAsync(FrameType.Stdin, session, Encoding.UTF8.GetBytes(text), CancellationToken.None).AsTask();

    public Task CloseStdinAsync(uint session) => _tether.SendAsync(FrameType.StdinClose, session, ReadOnlyMemory<byte>.Empty, CancellationToken.None).AsTask();

    public Task SignalAsync(uint session, int signal) => _tether.SendAsync(FrameType.Signal, session, Payloads.Int32(signal), CancellationToken.None).AsTask();

    public Task ResizeAsync(uint session, int rows, int columns) => _tether.SendAsync(FrameType.Resize, session, Payloads.Size(rows, columns), CancellationToken.None).AsTask();

    public async Task<StatsReport> StatsAsync()
    {
        var answer = await _tether.RequestAsync(FrameType.StatsRequest, ReadOnlyMemory<byte>.Empty, TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
        return answer.Type == FrameType.Error
            ? throw new InvalidOperationException($"the tether refused stats: {Payloads.Text(answer.Payload)}")
            : Payloads.Json(answer.Payload, InteractionJson.Default.StatsReport);
    }

    /// <summary>Asks a tether that runs a container for its state, as the endpoint does after a restart.</summary>
    public async Task<StateReport> AttachAsync(TimeSpan? timeout = null)
    {
        var greeting = await _tether.AttachAsync(timeout ?? TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
        return greeting.State ?? throw new InvalidOperationException("the tether said hello: it runs no container");
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

        _tether.Dispose();
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
        while (await _tether.ReadAsync(CancellationToken.None).ConfigureAwait(false) is { } frame)
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
