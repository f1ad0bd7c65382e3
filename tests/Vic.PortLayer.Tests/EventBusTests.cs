using Vic.PortLayer.Events;

namespace Vic.PortLayer.Tests;

public sealed class EventBusTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly ManualTimeProvider _time = new();
    private readonly EventBus _bus;

    public EventBusTests() => _bus = new EventBus(_time);

    [Fact]
    public async Task WithoutSinceOrUntilThereIsNoHistoryOnlyWhatHappensNext()
    {
        Publish("create", "old1");
        Publish("start", "old2");
        using var cancel = new CancellationTokenSource(Patience);
        await using var reader = _bus.ReadAsync(EventFilter.None, null, null, cancel.Token).GetAsyncEnumerator(cancel.Token);

        var next = reader.MoveNextAsync();
        Assert.False(next.IsCompleted, "history was replayed to a reader that asked for none");

        _time.Advance(TimeSpan.FromSeconds(1));
        var live = Publish("die", "new");
        Assert.True(await next);
        Assert.Same(live, reader.Current);
    }

    [Fact]
    public async Task LiveEventsReachEveryReaderInOrder()
    {
        using var cancel = new CancellationTokenSource(Patience);
        await using var first = _bus.ReadAsync(EventFilter.None, null, null, cancel.Token).GetAsyncEnumerator(cancel.Token);
        await using var second = _bus.ReadAsync(EventFilter.None, null, null, cancel.Token).GetAsyncEnumerator(cancel.Token);
        var firstNext = first.MoveNextAsync();
        var secondNext = second.MoveNextAsync();

        var published = Enumerable.Range(0, 50).Select(i => Publish("start", $"c{i}")).ToList();

        Assert.True(await firstNext);
        Assert.True(await secondNext);
        var seenByFirst = new List<EngineEvent> { first.Current };
        var seenBySecond = new List<EngineEvent> { second.Current };
        for (var i = 1; i < published.Count; i++)
        {
            Assert.True(await first.MoveNextAsync());
            Assert.True(await second.MoveNextAsync());
            seenByFirst.Add(first.Current);
            seenBySecond.Add(second.Current);
        }

        Assert.Equal(published, seenByFirst);
        Assert.Equal(published, seenBySecond);
    }

    [Fact]
    public async Task SinceReplaysTheHistoryFromThatMomentOn()
    {
        var t0 = _time.GetUtcNow();
        var e0 = Publish("create", "a");
        _time.Advance(TimeSpan.FromSeconds(10));
        var t1 = _time.GetUtcNow();
        var e1 = Publish("start", "a");
        _time.Advance(TimeSpan.FromSeconds(10));
        var e2 = Publish("die", "a");
        _time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal([e0, e1, e2], await ReadToEndAsync(t0, _time.GetUtcNow()));
        Assert.Equal([e1, e2], await ReadToEndAsync(t1, _time.GetUtcNow()));
        Assert.Equal([e2], await ReadToEndAsync(t1.AddTicks(1), _time.GetUtcNow()));
    }

    [Fact]
    public async Task SinceWithoutUntilReplaysThenGoesLive()
    {
        var t0 = _time.GetUtcNow();
        var old = Publish("create", "a");
        _time.Advance(TimeSpan.FromSeconds(1));
        using var cancel = new CancellationTokenSource(Patience);
        await using var reader = _bus.ReadAsync(EventFilter.None, t0, null, cancel.Token).GetAsyncEnumerator(cancel.Token);

        Assert.True(await reader.MoveNextAsync());
        Assert.Same(old, reader.Current);

        var next = reader.MoveNextAsync();
        Assert.False(next.IsCompleted);
        var live = Publish("start", "a");
        Assert.True(await next);
        Assert.Same(live, reader.Current);
    }

    [Fact]
    public async Task UntilInThePastReturnsOnlyHistoryThenEnds()
    {
        var t0 = _time.GetUtcNow();
        var e0 = Publish("create", "a");
        _time.Advance(TimeSpan.FromSeconds(10));
        var t1 = _time.GetUtcNow();
        var e1 = Publish("start", "a");
        _time.Advance(TimeSpan.FromSeconds(10));
        Publish("die", "a");
        _time.Advance(TimeSpan.FromSeconds(10));

        using var cancel = new CancellationTokenSource(Patience);
        await using var reader = _bus.ReadAsync(EventFilter.None, t0, t1, cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await reader.MoveNextAsync());
        Assert.Same(e0, reader.Current);
        Assert.True(await reader.MoveNextAsync());
        Assert.Same(e1, reader.Current);

        // The end comes at once: a live event afterwards is not waited for.
        var end = reader.MoveNextAsync();
        Assert.True(end.IsCompleted, "the stream waited for live events although until has passed");
        Assert.False(await end);
        Assert.Equal(0, _time.LiveTimers);
    }

    [Fact]
    public async Task UntilAloneReplaysEverythingKeptUpToIt()
    {
        var e0 = Publish("create", "a");
        _time.Advance(TimeSpan.FromSeconds(10));
        var until = _time.GetUtcNow();
        var e1 = Publish("start", "a");
        _time.Advance(TimeSpan.FromSeconds(10));
        Publish("die", "a");

        Assert.Equal([e0, e1], await ReadToEndAsync(null, until));
    }

    [Fact]
    public async Task UntilInTheFutureEndsTheLiveStreamWhenTheClockPassesIt()
    {
        var t0 = _time.GetUtcNow();
        var old = Publish("create", "a");
        var until = t0.AddSeconds(30);
        using var cancel = new CancellationTokenSource(Patience);
        await using var reader = _bus.ReadAsync(EventFilter.None, t0, until, cancel.Token).GetAsyncEnumerator(cancel.Token);

        Assert.True(await reader.MoveNextAsync());
        Assert.Same(old, reader.Current);

        _time.Advance(TimeSpan.FromSeconds(10));
        var live = Publish("start", "a");
        Assert.True(await reader.MoveNextAsync());
        Assert.Same(live, reader.Current);

        var next = reader.MoveNextAsync();
        _time.Advance(TimeSpan.FromSeconds(19));
        Assert.False(next.IsCompleted, "the stream ended before until");
        Assert.Equal(1, _time.LiveTimers);

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(await next.AsTask().WaitAsync(Patience));
        Assert.Equal(0, _time.LiveTimers);
    }

    [Fact]
    public async Task EventsPublishedBeforeUntilAreDeliveredEvenIfTheClockPassesItBeforeTheyAreRead()
    {
        var t0 = _time.GetUtcNow();
        var until = t0.AddSeconds(30);
        using var cancel = new CancellationTokenSource(Patience);
        await using var reader = _bus.ReadAsync(EventFilter.None, t0, until, cancel.Token).GetAsyncEnumerator(cancel.Token);
        var first = reader.MoveNextAsync();

        // A burst just before until, and the deadline passes while the reader is still busy with the first.
        _time.Advance(TimeSpan.FromSeconds(29));
        var burst = Enumerable.Range(0, 5).Select(i => Publish("exec_start", $"c{i}")).ToList();
        _time.Advance(TimeSpan.FromSeconds(2));
        var late = Publish("die", "late");

        var read = new List<EngineEvent>();
        for (var more = await first; more; more = await reader.MoveNextAsync())
        {
            read.Add(reader.Current);
        }

        Assert.Equal(burst, read);
        Assert.DoesNotContain(late, read);
    }

    [Fact]
    public async Task AClockThatMovesWhileTheStreamStartsStillEndsItAtUntil()
    {
        // Every reading of the clock finds it 3 ms later, as on a busy machine; until is 1 ms ahead.
        var until = _time.GetUtcNow().AddMilliseconds(1);
        _time.AutoAdvance = TimeSpan.FromMilliseconds(3);
        using var cancel = new CancellationTokenSource(Patience);
        await using var reader = _bus.ReadAsync(EventFilter.None, null, until, cancel.Token).GetAsyncEnumerator(cancel.Token);

        var next = reader.MoveNextAsync();
        _time.AutoAdvance = TimeSpan.Zero;
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(await next.AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task AClockThatMovesJustOverAMillisecondWhileTheStreamStartsDoesNotLeaveItOpenForever()
    {
        // 1.5 ms past until when the timer is set: System.Threading.Timer reads -1 ms as "never".
        var until = _time.GetUtcNow().AddMilliseconds(0.5);
        _time.AutoAdvance = TimeSpan.FromMilliseconds(2);
        using var cancel = new CancellationTokenSource(Patience);
        await using var reader = _bus.ReadAsync(EventFilter.None, null, until, cancel.Token).GetAsyncEnumerator(cancel.Token);

        var next = reader.MoveNextAsync();
        _time.AutoAdvance = TimeSpan.Zero;
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(await next.AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task FiltersApplyToHistoryAndToLiveEvents()
    {
        var t0 = _time.GetUtcNow();
        var filter = Filter("event", "die");
        Publish("start", "a");
        var oldDie = Publish("die", "a");
        using var cancel = new CancellationTokenSource(Patience);
        await using var reader = _bus.ReadAsync(filter, t0, null, cancel.Token).GetAsyncEnumerator(cancel.Token);

        Assert.True(await reader.MoveNextAsync());
        Assert.Same(oldDie, reader.Current);

        var next = reader.MoveNextAsync();
        Publish("start", "b");
        Publish("stop", "b");
        Assert.False(next.IsCompleted);
        var liveDie = Publish("die", "b");
        Assert.True(await next);
        Assert.Same(liveDie, reader.Current);
    }

    [Fact]
    public async Task HistoryKeepsOnlyTheLastHistoryLimitEvents()
    {
        var t0 = _time.GetUtcNow();
        var published = Enumerable.Range(0, EventBus.HistoryLimit + 40).Select(i =>
        {
            _time.Advance(TimeSpan.FromMilliseconds(1));
            return Publish("start", $"c{i}");
        }).ToList();
        _time.Advance(TimeSpan.FromSeconds(1));

        var replay = await ReadToEndAsync(t0, _time.GetUtcNow());

        Assert.Equal(EventBus.HistoryLimit, replay.Count);
        Assert.Equal(published.Skip(40), replay);
        Assert.Equal(EventBus.HistoryLimit + 40, _bus.Published);
    }

    [Fact]
    public void StampsStrictlyIncreaseWhenTheClockStandsStillOrStepsBack()
    {
        var now = EngineEvent.ToUnixNanos(_time.GetUtcNow());
        var stamps = new List<long>();
        for (var i = 0; i < 500; i++)
        {
            stamps.Add(Publish("start", $"c{i}").TimeNano);
        }

        _time.Rewind(TimeSpan.FromMinutes(5));
        for (var i = 0; i < 10; i++)
        {
            stamps.Add(Publish("stop", $"c{i}").TimeNano);
        }

        Assert.Equal(now, stamps[0]);
        Assert.All(stamps.Zip(stamps.Skip(1)), pair => Assert.True(pair.Second > pair.First, $"{pair.Second} follows {pair.First}"));

        // Once the clock is ahead of the last stamp again, stamps are the clock's.
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(EngineEvent.ToUnixNanos(_time.GetUtcNow()), Publish("start", "x").TimeNano);
    }

    [Fact]
    public void AStampIsTheClocksTimeInUnixNanoseconds()
    {
        var at = new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567);
        var time = new ManualTimeProvider(at);
        var bus = new EventBus(time);

        var e = bus.Publish(EventTypes.Image, "pull", "busybox:latest", new Dictionary<string, string>());

        Assert.Equal((at - DateTimeOffset.UnixEpoch).Ticks * 100, e.TimeNano);
        Assert.Equal(at, e.Time);
        Assert.Equal((EventTypes.Image, "pull", "busybox:latest", "local"), (e.Type, e.Action, e.ActorId, e.Scope));
    }

    [Fact]
    public async Task CancellingTheReaderEndsTheStreamAndItStopsReceiving()
    {
        using var cancel = new CancellationTokenSource();
        var reader = _bus.ReadAsync(EventFilter.None, null, null, cancel.Token).GetAsyncEnumerator(cancel.Token);
        var next = reader.MoveNextAsync();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await next);
        await reader.DisposeAsync();

        // Publishing after the reader left must not fail or block.
        Publish("start", "after");
        Assert.Equal(1, _bus.Published);
    }

    private EngineEvent Publish(string action, string actor) =>
        _bus.Publish(EventTypes.Container, action, actor, new Dictionary<string, string> { ["name"] = actor, ["image"] = "busybox" });

    private async Task<List<EngineEvent>> ReadToEndAsync(DateTimeOffset? since, DateTimeOffset until)
    {
        using var cancel = new CancellationTokenSource(Patience);
        var events = new List<EngineEvent>();
        await foreach (var e in _bus.ReadAsync(EventFilter.None, since, until, cancel.Token))
        {
            events.Add(e);
        }

        return events;
    }

    private static EventFilter Filter(string key, params string[] values) =>
        new(new Dictionary<string, IReadOnlySet<string>> { [key] = values.ToHashSet() });
}
