namespace Vic.Backends.Qemu;

/// <summary>How making ready clones gives way to starts.</summary>
internal sealed partial class ReadyClonePool
{
    /// <summary>How often the pool looks whether a start is busy, before and while it makes a ready clone.</summary>
    private static readonly TimeSpan YieldLook = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// The longest a ready clone being made is held stopped, all holds together, before it is given
    /// up: its tether's waits allow 10 s, and starts that keep coming need the CPU more.
    /// </summary>
    private static readonly TimeSpan LongestHold = TimeSpan.FromSeconds(5);

    private readonly RecentStarts _starts = new();

    /// <summary>A ContainerVM's QEMU has just been started or a ready clone handed out: ready clones wait until its start is done.</summary>
    public void Starting(int pid) => _starts.Add(pid);

    private async Task WaitForStartsAsync(CancellationToken cancellationToken)
    {
        while (_starts.AnyBusy())
        {
            await Task.Delay(YieldLook, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// While a ready clone is made: its QEMU is stopped whenever a start is busy and let go on when
    /// the starts are done; held past <see cref="LongestHold"/> in all, the making is cancelled.
    /// </summary>
    private sealed class Holder(ReadyClonePool pool, int pid, VmFolder folder, CancellationTokenSource making) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _done = new();
        private Task _holding = Task.CompletedTask;
        private TimeSpan _held;

        /// <summary>How many times the QEMU was stopped so far: a measure of its CPU across one is void.</summary>
        public int Holds { get; private set; }

        /// <summary>True when the making was cancelled because it was held too long.</summary>
        public bool GaveUp { get; private set; }

        public void Start() => _holding = HoldAsync();

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
            while (!_done.IsCancellationRequested)
            {
                if (!await LookAsync().ConfigureAwait(false) || !pool._starts.AnyBusy())
                {
                    continue;
                }

                Holds++;
                var watch = System.Diagnostics.Stopwatch.StartNew();
                QemuProcess.Hold(pid, folder, true);
                try
                {
                    while (_held + watch.Elapsed < LongestHold && await LookAsync().ConfigureAwait(false) && pool._starts.AnyBusy())
                    {
                    }
                }
                finally
                {
                    QemuProcess.Hold(pid, folder, false);
                }

                _held += watch.Elapsed;
                if (_held >= LongestHold)
                {
                    GaveUp = true;
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
