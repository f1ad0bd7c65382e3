using System.Collections.Concurrent;
using Vic.Interaction;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>A container whose ContainerVM runs: the connection to its tether and the task reading it.</summary>
internal sealed class RunningContainer(Stream channel, string containerId) : IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private readonly CancellationTokenSource _ending = new();
    private int _disposed;

    public Stream Channel { get; } = channel;

    public string ContainerId { get; } = containerId;

    /// <summary>The protocol on the channel: requests, streams, sessions and the frames the pump reads.</summary>
    public TetherConnection Tether { get; } = new(channel);

    public FrameWriter Writer => Tether.Writer;

    public Task? Pump { get; set; }

    /// <summary>The tether said the guest's OOM killer killed a process of this run.</summary>
    public bool OomKilled { get; set; }

    /// <summary>The protocol version the tether said it speaks (<see cref="TetherProtocol"/>); 0 before it answered.</summary>
    public int TetherVersion { get; set; }

    /// <summary>Cancelled when the channel closes: work tied to this run (healthchecks) stops with it.</summary>
    public CancellationToken Ending => _ending.Token;

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

    /// <summary>Set once this run's end is recorded (the exit, the events, a restart scheduled or an auto-removal done).</summary>
    public TaskCompletionSource RunEnded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when recovery gives up on this channel for a fresh one: its end is not the container's end.</summary>
    public bool Abandoned { get; set; }

    public ConcurrentDictionary<uint, ExecSession> Execs { get; } = new();

    /// <summary>Asks the tether something and waits for the answer; its errors become Docker's.</summary>
    public async Task<Frame> RequestAsync(FrameType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        try
        {
            var frame = await Tether.RequestAsync(type, payload, RequestTimeout, cancellationToken).ConfigureAwait(false);
            return frame.Type == FrameType.Error ? throw GuestError(Payloads.Text(frame.Payload)) : frame;
        }
        catch (TimeoutException)
        {
            throw new PortLayerException(ErrorKind.System, $"the ContainerVM of {ContainerId} did not answer a {type}");
        }
        catch (TetherClosedException)
        {
            throw PortLayerException.Conflict($"Container {ContainerId} is not running");
        }
    }

    /// <summary>Tells the tether to power its ContainerVM off, if the VM is still there to hear it.</summary>
    public async Task PowerOffQuietlyAsync()
    {
        try
        {
            await Writer.WriteAsync(FrameType.PowerOff, 0, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The ContainerVM went by itself: nothing is left to power off.
        }
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

        // Closed before the stream: requests and transfers still waiting fail at once.
        Tether.Dispose();
        _ending.Cancel();
        Channel.Dispose();
    }
}
