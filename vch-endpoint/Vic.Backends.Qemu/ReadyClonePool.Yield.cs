namespace Vic.Backends.Qemu;

/// <summary>How making ready clones gives way to starts.</summary>
internal sealed partial class ReadyClonePool
{
    /// <summary>How often the pool looks whether a start is busy, before and while it makes a ready clone.</summary>
    private static readonly TimeSpan YieldLook = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// The longest a ready clone being made is held stopped before it has rehearsed, all holds
    /// together, before it is given up: its tether's waits allow 10 s, and starts that keep coming
    /// need the CPU more. A rehearsed one is held as long as starts need.
    /// </summary>
    private static readonly TimeSpan LongestHold = TimeSpan.FromSeconds(5);

    private readonly RecentStarts _starts = new();

    /// <summary>A ContainerVM's QEMU has just been started or a ready clone handed out: ready clones wait until its start is done.</summary>
    public void Starting(int pid)
    {
        if (_options.ReadyClones > 0)
        {
            _starts.Add(pid);
        }
    }

    private async Task WaitForStartsAsync(CancellationToken cancellationToken)
    {
        while (_starts.AnyBusy())
        {
            await Task.Delay(YieldLook, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// While a ready clone is made: its QEMU is stopped whenever a start is busy and let go on when
    /// the starts are done. Held past <see cref="LongestHold"/> in all before it has rehearsed, the
    /// making is cancelled (its tether's waits would run out); after, a stopped clone costs only
    /// memory and is held as long as starts need.
    /// </summary>
    private sealed class Holder(ReadyClonePool pool, int pid, VmFolder folder, CancellationTokenSource making) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _done = new();
        private Task _holding = Task.CompletedTask;
        private TimeSpan _held;
        private volatile int _holds;
        private volatile int _changes;
        private volatile bool _isHeld;
        private volatile bool _gaveUp;
        private volatile bool _mayGiveUp = true;

        /// <summary>How many times the QEMU was stopped so far.</summary>
        public int Holds => _holds;

        /// <summary>Moves when a hold begins and when it ends: a measure of the QEMU's CPU across a change is void.</summary>
        public int Changes => _changes;

        /// <summary>True while the QEMU is stopped.</summary>
        public bool IsHeld => _isHeld;

        /// <summary>True when the making was cancelled because it was held too long.</summary>
        public bool GaveUp => _gaveUp;

        public void Start() => _holding = HoldAsync();

        /// <summary>The clone has rehearsed: from now on it is held, never given up.</summary>
        public void Rehearsed() => _mayGiveUp = false;

        /// <summary>Ends the holding, the QEMU let go on; again is harmless.</summary>
        public async ValueTask DisposeAsync()
        {
            if (!_done.IsCancellationRequested)
            {
                await _done.CancelAsync().ConfigureAwait(false);
            }

            await _holding.ConfigureAwait(false);
        }

        private async Task HoldAsync()
        {
            while (await LookAsync().ConfigureAwait(false))
            {
                if (!pool._starts.AnyBusy())
                {
                    continue;
                }

                // Held is said before the changes move, and they move again when the hold ends: a
                // quiet wait that overlapped any part of a hold sees them change.
                _isHeld = true;
                _changes++;
                _holds++;
                var watch = System.Diagnostics.Stopwatch.StartNew();
                QemuProcess.Hold(pid, folder, true);
                try
                {
                    while (!(_mayGiveUp && _held + watch.Elapsed >= LongestHold) && await LookAsync().ConfigureAwait(false) && pool._starts.AnyBusy())
                    {
                    }
                }
                finally
                {
                    QemuProcess.Hold(pid, folder, false);
                    _changes++;
                    _isHeld = false;
                }

                _held += watch.Elapsed;
                if (_mayGiveUp && _held >= LongestHold)
                {
                    _gaveUp = true;
                    await making.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }

        /// <summary>Waits one look; false once the making is over.</summary>
        private async Task<bool> LookAsync()
        {
            try
            {
                await Task.Delay(YieldLook, _done.Token).ConfigureAwait(false);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }
}
