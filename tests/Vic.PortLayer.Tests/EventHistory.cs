using Vic.PortLayer.Events;

namespace Vic.PortLayer.Tests;

internal static class EventHistory
{
    /// <summary>
    /// The kept events from <paramref name="since"/> up to now: with an until that is not in the future,
    /// <see cref="EventBus.ReadAsync"/> replays history and ends. The clock first moves on a millisecond,
    /// past the nanosecond steps the bus adds to keep stamps distinct while the clock stands still.
    /// </summary>
    public static async Task<List<EngineEvent>> ReadAsync(
        EventBus bus, ManualTimeProvider time, DateTimeOffset since, EventFilter? filter = null)
    {
        time.Advance(TimeSpan.FromMilliseconds(1));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var events = new List<EngineEvent>();
        await foreach (var e in bus.ReadAsync(filter ?? EventFilter.None, since, time.GetUtcNow(), timeout.Token))
        {
            events.Add(e);
        }

        return events;
    }
}
