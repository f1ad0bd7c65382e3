using System.Collections.Concurrent;
using Vic.Interaction;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>A container whose ContainerVM runs: the channel to its tether and the task reading it.</summary>
internal sealed class RunningContainer(Stream channel, string containerId) : IDisposable
{
    public Stream Channel { get; } = channel;

    public string ContainerId { get; } = containerId;

    public FrameWriter Writer { get; } = new(channel);

    private readonly ConcurrentDictionary<uint, TaskCompletionSource<Frame>> _requests = new();
    private readonly CancellationTokenSource _ending = new();
    private readonly ConcurrentDictionary<uint, System.Threading.Channels.Channel<Frame>> _streams = new();
    private int _nextSession;
    private int _nextRequest;
    private int _disposed;

    public Task? Pump { get; set; }

    /// <summary>Cancelled when the channel closes: work tied to this run (healthchecks) stops with it.</summary>
    public CancellationToken Ending => _ending.Token;

    /// <summary>After an endpoint restart: true once the tether reported its state, false if it never got a spec.</summary>
    public TaskCompletionSource<bool> Reattached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The main process's pid once the tether has started it; 0 when it never ran (its root failed,
    /// the VM went away). A start returns once this is set, as dockerd's does once the process runs.
    /// </summary>
    public TaskCompletionSource<int> MainStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Set once a start has committed the container as running (or let go of this channel). The
    /// main process's exit is handled only after: a process that ends at once must not reach the
    /// exit handler while the container is still Created, or the start would then mark it running.
    /// </summary>
    public TaskCompletionSource StartSettled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Set once the pump has read the channel's last frame: before the pump itself ends, which for a
    /// starting connection waits for the start to settle.
    /// </summary>
    public TaskCompletionSource ChannelEnded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set once this run's end is recorded (the exit, the events, a restart scheduled or an auto-removal done).</summary>
    public TaskCompletionSource RunEnded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when recovery gives up on this channel for a fresh one: its end is not the container's end.</summary>
    public bool Abandoned { get; set; }

    public void ContinueSessionsAfter(uint session)
    {
        var current = _nextSession;
        while (current < session && Interlocked.CompareExchange(ref _nextSession, (int)session, current) != current)
        {
            current = _nextSession;
        }
    }

    public ConcurrentDictionary<uint, ExecSession> Execs { get; } = new();

    public uint NextSession() => (uint)Interlocked.Increment(ref _nextSession);

    /// <summary>Asks the tether something and waits for the answer on the same request number.</summary>
    public async Task<Frame> RequestAsync(FrameType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var id = Frame.FirstRequest + (uint)Interlocked.Increment(ref _nextRequest);
        var answer = new TaskCompletionSource<Frame>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests[id] = answer;
        try
        {
            await Writer.WriteAsync(type, id, payload, cancellationToken).ConfigureAwait(false);
            var frame = await answer.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            return frame.Type == FrameType.Error ? throw GuestError(Payloads.Text(frame.Payload)) : frame;
        }
        catch (TimeoutException)
        {
            throw new PortLayerException(ErrorKind.System, $"the ContainerVM of {ContainerId} did not answer a {type}");
        }
        finally
        {
            _requests.TryRemove(id, out _);
        }
    }

    /// <summary>Opens a request whose answer is a stream of frames (file transfers); close it when done.</summary>
    public (uint Id, System.Threading.Channels.ChannelReader<Frame> Frames) OpenStream()
    {
        var id = Frame.FirstRequest + (uint)Interlocked.Increment(ref _nextRequest);
        var frames = System.Threading.Channels.Channel.CreateUnbounded<Frame>();
        _streams[id] = frames;
        return (id, frames.Reader);
    }

    public void CloseStream(uint id) => _streams.TryRemove(id, out _);

    /// <summary>Hands an answer to its request; false if the frame answers none.</summary>
    public bool Answer(Frame frame)
    {
        if (frame.Session < Frame.FirstRequest)
        {
            return false;
        }

        if (_streams.TryGetValue(frame.Session, out var stream))
        {
            return stream.Writer.TryWrite(frame);
        }

        return _requests.TryGetValue(frame.Session, out var pending) && pending.TrySetResult(frame);
    }

    /// <summary>The tether marks what the user got wrong ("notfound: ", "invalid: "); the rest is ours.</summary>
    public static PortLayerException GuestError(string text) =>
        text.StartsWith("notfound: ", StringComparison.Ordinal) ? PortLayerException.NotFound(text["notfound: ".Length..])
        : text.StartsWith("invalid: ", StringComparison.Ordinal) ? PortLayerException.InvalidParameter(text["invalid: ".Length..])
        : new PortLayerException(ErrorKind.System, text);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        MainStarted.TrySetResult(0);
        StartSettled.TrySetResult();

        foreach (var pending in _requests.Values)
        {
            pending.TrySetException(PortLayerException.Conflict($"Container {ContainerId} is not running"));
        }

        foreach (var stream in _streams.Values)
        {
            stream.Writer.TryComplete(new IOException($"the ContainerVM of {ContainerId} went away during a file transfer"));
        }

        _ending.Cancel();
        Channel.Dispose();
        Writer.Dispose();
    }
}
