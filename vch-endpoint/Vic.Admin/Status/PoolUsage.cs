using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Vic.Admin.Status;

/// <summary>What the VCH's running ContainerVMs held of its pool at one moment.</summary>
public sealed record PoolUsageSample(DateTimeOffset Time, int RunningVms, int Cpus, long MemoryBytes);

/// <summary>
/// The pool's usage over the last <see cref="Capacity"/> samples, oldest first: what vicadmin's chart
/// draws. Held in memory only; an endpoint restart starts a new history.
/// </summary>
public sealed class PoolUsageHistory(int capacity = PoolUsageHistory.DefaultCapacity)
{
    /// <summary>An hour at the sampler's default interval.</summary>
    public const int DefaultCapacity = 720;

    private readonly Lock _lock = new();
    private readonly Queue<PoolUsageSample> _samples = new();

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    public void Add(PoolUsageSample sample)
    {
        lock (_lock)
        {
            _samples.Enqueue(sample);
            if (_samples.Count > Capacity)
            {
                _samples.Dequeue();
            }
        }
    }

    public IReadOnlyList<PoolUsageSample> Samples()
    {
        lock (_lock)
        {
            return [.. _samples];
        }
    }
}

/// <summary>Takes a <see cref="PoolUsageSample"/> every <c>interval</c> from the ContainerVM table.</summary>
public sealed partial class PoolUsageSampler(ContainerVmTable table, PoolUsageHistory history, TimeProvider time, TimeSpan interval, ILogger<PoolUsageSampler> logger) : BackgroundService
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(5);

    /// <summary>The usage now, without keeping it: the page's current figures.</summary>
    public async Task<PoolUsageSample> MeasureAsync(CancellationToken cancellationToken)
    {
        var running = (await table.ListAsync(cancellationToken).ConfigureAwait(false)).Where(r => r.State is "running" or "paused" or "restarting").ToList();
        return new PoolUsageSample(time.GetUtcNow(), running.Count, running.Sum(r => r.Cpus), running.Sum(r => r.MemoryBytes));
    }

    /// <summary>The usage now, kept in the history.</summary>
    public async Task<PoolUsageSample> SampleAsync(CancellationToken cancellationToken)
    {
        var sample = await MeasureAsync(cancellationToken).ConfigureAwait(false);
        history.Add(sample);
        return sample;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        do
        {
            try
            {
                await SampleAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A backend that does not answer for a moment leaves a gap in the chart, not a dead sampler.
                Log.SampleFailed(logger, ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 6003, Level = LogLevel.Warning, Message = "vicadmin: could not sample the pool's usage: {Reason}")]
        public static partial void SampleFailed(ILogger logger, string reason);
    }
}
