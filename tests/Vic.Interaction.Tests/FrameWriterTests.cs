using Vic.Interaction;

namespace Vic.Interaction.Tests;

public sealed class FrameWriterTests
{
    [Fact]
    public async Task AWriterClosedWhileWritesQueueFailsThemInsteadOfStrandingThem()
    {
        // The stop and the kill of one container signal it at once while its run ends: the run's
        // channel closes its writer between them. A write queued behind the one under way must end.
        var held = new HeldStream();
        var writer = new FrameWriter(held);
        var first = writer.WriteAsync(FrameType.Signal, 0, Payloads.Int32(15), CancellationToken.None).AsTask();
        await held.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var queued = writer.WriteAsync(FrameType.Signal, 0, Payloads.Int32(9), CancellationToken.None).AsTask();

        writer.Dispose();
        held.Release.SetResult();

        await first.WaitAsync(TimeSpan.FromSeconds(30));
        var refused = await Assert.ThrowsAsync<ObjectDisposedException>(() => queued.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(nameof(FrameWriter), refused.ObjectName, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => writer.WriteAsync(FrameType.Signal, 0, Payloads.Int32(9), CancellationToken.None).AsTask());
        Assert.Equal(1, held.Writes);
    }

    [Fact]
    public async Task AWriteCancelledOnceUnderWayStillPutsTheWholeFrameOnTheStream()
    {
        // A relayed connection that ends cancels its writes: a frame cut there would leave the
        // tether reading garbage, and the container's channel would be lost with it.
        var held = new HeldStream { Honour = true };
        var writer = new FrameWriter(held);
        using var cancel = new CancellationTokenSource();
        var write = writer.WriteAsync(FrameType.Data, Frame.FirstRequest + 1, new byte[100], cancel.Token).AsTask();
        await held.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await cancel.CancelAsync();
        held.Release.SetResult();
        await write.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(FrameCodec.HeaderLength + 100, held.Length);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => writer.WriteAsync(FrameType.Data, Frame.FirstRequest + 1, new byte[1], cancel.Token).AsTask());
        Assert.Equal(FrameCodec.HeaderLength + 100, held.Length);
    }

    /// <summary>A stream whose first write waits until the test lets it go.</summary>
    private sealed class HeldStream : MemoryStream
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Writes { get; private set; }

        /// <summary>Whether a cancelled token stops the held write, as a socket's does (then nothing of it is written).</summary>
        public bool Honour { get; init; }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes++;
            Entered.TrySetResult();
            await Release.Task.ConfigureAwait(false);
            if (Honour)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            await base.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
    }
}
