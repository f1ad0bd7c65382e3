using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Vic.PortLayer.Events;

/// <summary>
/// Fans engine events out to <c>/events</c> readers and keeps the most recent ones so that a reader
/// asking with <c>since</c> sees what it missed. Like dockerd, it keeps the last
/// <see cref="HistoryLimit"/> events in memory only.
/// </summary>
public sealed class EventBus
{
    public const int HistoryLimit = 256;

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Queue<EngineEvent> _history = new();
    private readonly List<Channel<EngineEvent>> _subscribers = [];
    private long _lastTimeNano;

    public EventBus(TimeProvider time) => _time = time;

    public long Published { get; private set; }

    /// <summary>Stamps and publishes an event; stamps never go backwards, so history stays ordered.</summary>
    public EngineEvent Publish(string type, string action, string actorId, IReadOnlyDictionary<string, string> attributes)
    {
        lock (_gate)
        {
            var now = EngineEvent.ToUnixNanos(_time.GetUtcNow());
            _lastTimeNano = Math.Max(now, _lastTimeNano + 1);
            var e = new EngineEvent(type, action, actorId, attributes, _lastTimeNano);
            _history.Enqueue(e);
            if (_history.Count > HistoryLimit)
            {
                _history.Dequeue();
            }

            foreach (var subscriber in _subscribers)
            {
                // Unbounded: a slow reader must not stall the engine; its connection is the limit.
                subscriber.Writer.TryWrite(e);
            }

            Published++;
            return e;
        }
    }

    /// <summary>
    /// The events a Docker <c>/events</c> call asks for: those kept in history within
    /// [<paramref name="since"/>, <paramref name="until"/>] (only when either is given, as dockerd does),
    /// then live events until <paramref name="until"/> passes or the caller cancels.
    /// </summary>
    public async IAsyncEnumerable<EngineEvent> ReadAsync(
        EventFilter filter,
        DateTimeOffset? since,
        DateTimeOffset? until,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var live = Channel.CreateUnbounded<EngineEvent>(new UnboundedChannelOptions { SingleReader = true });
        EngineEvent[] replay;
        lock (_gate)
        {
            replay = since is null && until is null ? [] : [.. _history];
            _subscribers.Add(live);
        }

        try
        {
            var sinceNano = since is { } s ? EngineEvent.ToUnixNanos(s) : long.MinValue;
            var untilNano = until is { } u ? EngineEvent.ToUnixNanos(u) : long.MaxValue;
            foreach (var e in replay)
            {
                if (e.TimeNano >= sinceNano && e.TimeNano <= untilNano && filter.Matches(e))
                {
                    yield return e;
                }
            }

            // One reading of the clock for both: read twice, time passing in between could make the
            // timer's due time negative (a throw, or at -1 ms a timer that never fires).
            var now = _time.GetUtcNow();
            if (until is { } end && end <= now)
            {
                yield break;
            }

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var timer = until is { } stopAt
                ? _time.CreateTimer(_ => deadline.Cancel(), null, stopAt - now, Timeout.InfiniteTimeSpan)
                : null;
            while (true)
            {
                EngineEvent e;
                try
                {
                    e = await live.Reader.ReadAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                if (e.TimeNano > untilNano)
                {
                    yield break;
                }

                if (e.TimeNano >= sinceNano && filter.Matches(e))
                {
                    yield return e;
                }
            }

            // Until passed: events published before it may still wait unread; they are the reader's too.
            while (live.Reader.TryRead(out var e) && e.TimeNano <= untilNano)
            {
                if (e.TimeNano >= sinceNano && filter.Matches(e))
                {
                    yield return e;
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _subscribers.Remove(live);
            }
        }
    }
}
