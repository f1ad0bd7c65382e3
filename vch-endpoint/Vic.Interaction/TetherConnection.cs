using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Vic.Interaction;

/// <summary>How a tether answered an Attach: Hello before it has a spec, State once it runs a container.</summary>
/// <param name="Hello">Set when the tether waits for its spec.</param>
/// <param name="State">Set when the tether runs a container: its sessions and their exits.</param>
public sealed record TetherGreeting(HelloMessage? Hello, StateReport? State);

/// <summary>The tether's channel ended, or was closed, before the answer that was waited for.</summary>
public sealed class TetherClosedException(string message) : IOException(message);

/// <summary>
/// The endpoint's side of one connection to a tether, which every caller of the protocol uses (the
/// port layer, the template's probe, the conformance tests, the benchmarks): frames written whole,
/// requests numbered from <see cref="Frame.FirstRequest"/> and matched to their answers, streamed
/// answers (file transfers) handed to their reader, and every other frame (output, starts, exits,
/// hello, state) given to the one reader of <see cref="ReadAsync"/> in the order it came.
/// </summary>
/// <remarks>
/// One reader drives the connection: answers reach their requests only while someone reads. A
/// connection that ends fails every request, stream and handshake still waiting, instead of leaving
/// them to their time-outs. Disposing it does not close the stream, which its opener owns (a
/// template's channel outlives its probe).
/// </remarks>
public sealed class TetherConnection(Stream channel) : IDisposable
{
    private readonly FrameReader _reader = new(channel);
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<Frame>> _requests = new();
    private readonly ConcurrentDictionary<uint, Channel<Frame>> _streams = new();
    private TaskCompletionSource<TetherGreeting>? _greeting;
    private PendingAnswer? _answer;
    // From a random place: frames of an earlier endpoint's requests still on their way (a relayed
    // connection's last Data, say) must not find a request of this connection with their number.
    private int _nextRequest = Random.Shared.Next(1 << 30);
    private int _nextSession;
    private int _closed;

    public Stream Channel { get; } = channel;

    /// <summary>Writes to the tether; a closed connection refuses with <see cref="ObjectDisposedException"/>.</summary>
    public FrameWriter Writer { get; } = new(channel);

    /// <summary>Sends a frame that asks for no answer (a spec, stdin, a signal, a resize).</summary>
    public ValueTask SendAsync(FrameType type, uint session, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        Writer.WriteAsync(type, session, payload, cancellationToken);

    /// <summary>
    /// Asks the tether who it is and waits for its answer, which the reader of this connection sees
    /// too (a State it must act on): the caller has the answer once the reader has acted on it and
    /// asks for the next frame, so sessions the State names are known before the caller goes on.
    /// Needs a reader running.
    /// </summary>
    /// <exception cref="TimeoutException">No answer within <paramref name="timeout"/>: a connection the guest never heard of.</exception>
    /// <exception cref="TetherClosedException">The channel ended first.</exception>
    public async Task<TetherGreeting> AttachAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var greeting = await SendAttachAsync(cancellationToken).ConfigureAwait(false);
        return await greeting.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <see cref="AttachAsync"/> for a caller with no reader of its own (a template's probe, a
    /// benchmark): reads the frames before the answer and stops right after it, so the stream can
    /// be handed on with nothing of the next frame read.
    /// </summary>
    /// <exception cref="TimeoutException">No answer within <paramref name="timeout"/>.</exception>
    /// <exception cref="TetherClosedException">The channel ended first.</exception>
    public async Task<TetherGreeting> AttachAndReadAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            var greeting = await SendAttachAsync(limit.Token).ConfigureAwait(false);
            while (!greeting.IsCompleted && Volatile.Read(ref _answer) is null && await ReadAsync(limit.Token).ConfigureAwait(false) is not null)
            {
            }

            DeliverAnswer();
            return await greeting.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the tether did not answer Attach within {timeout.TotalSeconds:0.#} s");
        }
    }

    /// <returns>The answer to come: completed by the reader, in the same call that reads it.</returns>
    private async Task<Task<TetherGreeting>> SendAttachAsync(CancellationToken cancellationToken)
    {
        var greeting = new TaskCompletionSource<TetherGreeting>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _greeting, greeting);
        if (Volatile.Read(ref _closed) == 1)
        {
            throw new TetherClosedException("the tether's channel ended before it answered Attach");
        }

        try
        {
            await SendAsync(FrameType.Attach, 0, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The channel ended as the Attach went: what came before it (an exit that waited in the
            // VM) is still read, and the end fails the greeting.
        }

        return greeting.Task;
    }

    /// <summary>Asks the tether something and waits for the answer on the same request number.</summary>
    /// <returns>The answer, which may be an <see cref="FrameType.Error"/> frame: the caller says what it means.</returns>
    /// <exception cref="TimeoutException">No answer within <paramref name="timeout"/>.</exception>
    /// <exception cref="TetherClosedException">The connection ended before the answer.</exception>
    public async Task<Frame> RequestAsync(FrameType type, ReadOnlyMemory<byte> payload, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var id = NextRequestId();
        var answer = new TaskCompletionSource<Frame>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests[id] = answer;
        try
        {
            if (Volatile.Read(ref _closed) == 1)
            {
                throw Closed(type);
            }

            await Writer.WriteAsync(type, id, payload, cancellationToken).ConfigureAwait(false);
            return await answer.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            throw Closed(type);
        }
        finally
        {
            _requests.TryRemove(id, out _);
        }
    }

    /// <summary>Opens a request whose answer is a stream of frames (file transfers); close it when done.</summary>
    public (uint Id, ChannelReader<Frame> Frames) OpenStream()
    {
        var id = NextRequestId();
        var frames = System.Threading.Channels.Channel.CreateUnbounded<Frame>();
        _streams[id] = frames;
        if (Volatile.Read(ref _closed) == 1)
        {
            frames.Writer.TryComplete(new TetherClosedException("the ContainerVM went away during a file transfer (its tether's channel ended)"));
        }

        return (id, frames.Reader);
    }

    public void CloseStream(uint id) => _streams.TryRemove(id, out _);

    /// <summary>The next session number for an exec: above every session the tether reported.</summary>
    public uint NextSession() => (uint)Interlocked.Increment(ref _nextSession);

    /// <summary>After a reconnect: new sessions are numbered after those the tether already runs.</summary>
    public void ContinueSessionsAfter(uint session)
    {
        var current = Volatile.Read(ref _nextSession);
        while (current < session && Interlocked.CompareExchange(ref _nextSession, (int)session, current) != current)
        {
            current = Volatile.Read(ref _nextSession);
        }
    }

    /// <summary>
    /// The next frame the tether sent on its own (not an answer to a request); null when the channel
    /// ended cleanly. Answers read on the way go to their requests. One reader at a time.
    /// </summary>
    /// <exception cref="ProtocolException">The tether broke the protocol: the connection is closed.</exception>
    public async ValueTask<Frame?> ReadAsync(CancellationToken cancellationToken)
    {
        // The reader is done with the frame before this one: an answer to Attach among them is the caller's now.
        DeliverAnswer();
        try
        {
            while (await _reader.ReadAsync(cancellationToken).ConfigureAwait(false) is { } frame)
            {
                if (!Answer(frame))
                {
                    Greet(frame);
                    return frame;
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Close();
            throw;
        }

        Close();
        return null;
    }

    /// <summary>Closes the connection: whoever waits on it learns it ended. The stream stays its opener's.</summary>
    public void Dispose() => Close();

    private uint NextRequestId() => Frame.FirstRequest + (uint)Interlocked.Increment(ref _nextRequest);

    private bool Answer(Frame frame)
    {
        // The rehearsal's process is a session, numbered where no request can be.
        if (frame.Session < Frame.FirstRequest || frame.Session == Frame.RehearsalSession)
        {
            return false;
        }

        if (_streams.TryGetValue(frame.Session, out var stream))
        {
            stream.Writer.TryWrite(frame);
            return true;
        }

        // An answer nobody waits for any more (its request timed out) is dropped, not handed on.
        if (_requests.TryGetValue(frame.Session, out var pending))
        {
            pending.TrySetResult(frame);
        }

        return true;
    }

    private void Greet(Frame frame)
    {
        if (frame.Session != Frame.MainSession || Volatile.Read(ref _greeting) is not { } greeting)
        {
            return;
        }

        if (greeting.Task.IsCompleted)
        {
            return;
        }

        // Kept with the Attach it answers: a later Attach never gets an earlier one's answer.
        if (frame.Type == FrameType.Hello)
        {
            Interlocked.CompareExchange(ref _answer, new PendingAnswer(greeting, new TetherGreeting(Payloads.Json(frame.Payload, InteractionJson.Default.HelloMessage), null)), null);
        }
        else if (frame.Type == FrameType.State)
        {
            Interlocked.CompareExchange(ref _answer, new PendingAnswer(greeting, new TetherGreeting(null, Payloads.Json(frame.Payload, InteractionJson.Default.StateReport))), null);
        }
    }

    private void DeliverAnswer()
    {
        if (Interlocked.Exchange(ref _answer, null) is { } pending)
        {
            pending.For.TrySetResult(pending.Answer);
        }
    }

    private sealed record PendingAnswer(TaskCompletionSource<TetherGreeting> For, TetherGreeting Answer);

    private void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }

        // An answer read before the end is still the answer.
        DeliverAnswer();
        var why = new TetherClosedException("the tether's channel ended");
        Volatile.Read(ref _greeting)?.TrySetException(why);
        foreach (var pending in _requests.Values)
        {
            pending.TrySetException(why);
        }

        foreach (var stream in _streams.Values)
        {
            stream.Writer.TryComplete(new TetherClosedException("the ContainerVM went away during a file transfer (its tether's channel ended)"));
        }

        Writer.Dispose();
    }

    private static TetherClosedException Closed(FrameType type) => new($"the tether's channel ended before it answered a {type}");
}
