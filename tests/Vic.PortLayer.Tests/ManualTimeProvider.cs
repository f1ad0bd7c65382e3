namespace Vic.PortLayer.Tests;

/// <summary>
/// A clock that moves only when a test says so. Timers created from it fire, on the thread that
/// calls <see cref="Advance"/> or <see cref="SetUtcNow"/>, once the clock reaches their due time
/// (the test project cannot use Microsoft.Extensions.TimeProvider.Testing's FakeTimeProvider).
/// </summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now;

    public ManualTimeProvider()
        : this(new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero))
    {
    }

    public ManualTimeProvider(DateTimeOffset start) => _now = start;

    /// <summary>
    /// Added to the clock after every <see cref="GetUtcNow"/>, so code that reads the clock twice sees
    /// time pass in between, as it does on a busy machine. Zero (the default) keeps the clock still.
    /// </summary>
    public TimeSpan AutoAdvance { get; set; }

    /// <summary>How many timers were created and not yet disposed.</summary>
    public int LiveTimers
    {
        get
        {
            lock (_gate)
            {
                return _timers.Count;
            }
        }
    }

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            var now = _now;
            _now += AutoAdvance;
            return now;
        }
    }

    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        SetUtcNow(Peek() + by);
    }

    /// <summary>Steps the clock back, as an NTP correction can; timers do not fire.</summary>
    public void Rewind(TimeSpan by)
    {
        lock (_gate)
        {
            _now -= by;
        }
    }

    public void SetUtcNow(DateTimeOffset value)
    {
        lock (_gate)
        {
            if (value < _now)
            {
                throw new ArgumentOutOfRangeException(nameof(value), "use Rewind to step the clock back");
            }
        }

        // Fire due timers one at a time, in due order, with the clock at each one's due time, the way
        // real time would pass through them. Callbacks run outside the lock so they may use the clock.
        while (true)
        {
            ManualTimer? next;
            lock (_gate)
            {
                next = _timers
                    .Where(t => t.DueAt is { } due && due <= value)
                    .OrderBy(t => t.DueAt)
                    .FirstOrDefault();
                if (next is null)
                {
                    _now = value;
                    return;
                }

                if (next.DueAt > _now)
                {
                    _now = next.DueAt.Value;
                }

                next.DueAt = next.Period is { } period ? _now + period : null;
            }

            next.Fire();
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new ManualTimer(this, callback, state);
        bool dueNow;
        lock (_gate)
        {
            // Armed as it is added: a test that sees the timer and moves the clock must not find it without a due time.
            dueNow = timer.SetDue(dueTime, period);
            _timers.Add(timer);
        }

        if (dueNow)
        {
            SetUtcNow(Peek());
        }

        return timer;
    }

    private DateTimeOffset Peek()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    private void Remove(ManualTimer timer)
    {
        lock (_gate)
        {
            _timers.Remove(timer);
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset? DueAt { get; set; }

        public TimeSpan? Period { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            bool dueNow;
            lock (owner._gate)
            {
                dueNow = SetDue(dueTime, period);
            }

            if (dueNow)
            {
                // Due now: a real timer would fire at once.
                owner.SetUtcNow(owner.Peek());
            }

            return true;
        }

        /// <summary>Sets the due time from the owner's clock, whose lock the caller holds; true when it is due at once.</summary>
        public bool SetDue(TimeSpan dueTime, TimeSpan period)
        {
            // System.Threading.Timer's contract, which the system TimeProvider passes on: times are
            // whole milliseconds, -1 ms means never, and anything below that is refused.
            var dueMs = (long)dueTime.TotalMilliseconds;
            var periodMs = (long)period.TotalMilliseconds;
            ArgumentOutOfRangeException.ThrowIfLessThan(dueMs, -1, nameof(dueTime));
            ArgumentOutOfRangeException.ThrowIfLessThan(periodMs, -1, nameof(period));
            DueAt = dueMs == -1 ? null : owner._now + TimeSpan.FromMilliseconds(dueMs);
            Period = periodMs is -1 or 0 ? null : TimeSpan.FromMilliseconds(periodMs);
            return dueMs == 0;
        }

        public void Fire() => callback(state);

        public void Dispose() => owner.Remove(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
