using System.Collections.Concurrent;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;

namespace Vic.PortLayer.Tests;

/// <summary>The connection to a tether alone: each channel the connector opens is a loopback socket whose guest end the test plays.</summary>
public sealed class TetherConnectorTests : IDisposable
{
    private readonly Channels _channels = new();
    private readonly RuntimeParts _parts = new(answerTimeout: TimeSpan.FromMilliseconds(300));

    public void Dispose()
    {
        // The guests' ends close, and every run's end is recorded before the store closes.
        _channels.Dispose();
        foreach (var state in _parts.Runtime.All.ToList())
        {
            state.Running?.RunEnded.Task.Wait(TimeSpan.FromSeconds(10));
        }

        _parts.Dispose();
    }

    [Fact]
    public async Task ATetherThatSaysHelloWaitsForItsSpecAndIsTheContainersRun()
    {
        var id = _parts.Running("hello");
        _channels.Play = AnswerAsync(FrameType.Hello);

        var (running, answer) = await _parts.Connector.ConnectAsync(_channels, id, _parts.Runtime.Of(id).Log, CancellationToken.None, starting: true);

        Assert.Equal(TetherAnswer.Hello, answer);
        Assert.Same(running, _parts.Runtime.RunningOf(id));
        Assert.False(running!.StartSettled.Task.IsCompleted, "a starting run's exit must wait for its start to settle");
        Assert.Equal(1, _channels.Opened);
    }

    [Fact]
    public async Task ATetherThatRunsAContainerReportsItsState()
    {
        var id = _parts.Running("state");
        _channels.Play = AnswerAsync(FrameType.State);

        var (running, answer) = await _parts.Connector.ConnectAsync(_channels, id, _parts.Runtime.Of(id).Log, CancellationToken.None);

        Assert.Equal(TetherAnswer.State, answer);
        Assert.True(running!.StartSettled.Task.IsCompleted);
    }

    [Fact]
    public async Task AConnectionTheGuestNeverHeardOfIsDroppedForAFreshOne()
    {
        var id = _parts.Running("silent-once");
        var silent = Silent();
        _channels.Play = (guest, number) => number == 1 ? silent(guest, number) : AnswerAsync(FrameType.Hello)(guest, number);

        var (running, answer) = await _parts.Connector.ConnectAsync(_channels, id, _parts.Runtime.Of(id).Log, CancellationToken.None);

        Assert.Equal(TetherAnswer.Hello, answer);
        Assert.Equal(2, _channels.Opened);
        Assert.Same(running, _parts.Runtime.RunningOf(id));
        Assert.Equal(ContainerState.Running, _parts.Catalog.Resolve(id).Status.State);
    }

    [Fact]
    public async Task ATetherSilentOnEveryConnectionIsSilentAndLeavesNoRun()
    {
        var id = _parts.Running("silent");
        _channels.Play = Silent();

        var (running, answer) = await _parts.Connector.ConnectAsync(_channels, id, _parts.Runtime.Of(id).Log, CancellationToken.None);

        Assert.Equal((null, TetherAnswer.Silent), (running, answer));
        Assert.Equal(4, _channels.Opened);
        Assert.Null(_parts.Runtime.RunningOf(id));
        Assert.Equal(ContainerState.Running, _parts.Catalog.Resolve(id).Status.State);
    }

    [Fact]
    public async Task AChannelThatCannotBeOpenedHasEnded()
    {
        var id = _parts.Running("refused");
        _channels.Refuse = true;

        var (running, answer) = await _parts.Connector.ConnectAsync(_channels, id, _parts.Runtime.Of(id).Log, CancellationToken.None);

        Assert.Equal((null, TetherAnswer.ChannelEnded), (running, answer));
    }

    [Fact]
    public async Task AFilesOnlyConnectionIsNotTheContainersRunAndItsEndEndsNothing()
    {
        var id = _parts.Running("files");
        _channels.Play = AnswerAsync(FrameType.Hello);

        var (running, answer) = await _parts.Connector.ConnectAsync(_channels, id, _parts.Runtime.Of(id).Log, CancellationToken.None, filesOnly: true);
        await _parts.Connector.LetGoAsync(running!);

        Assert.Equal(TetherAnswer.Hello, answer);
        Assert.Null(_parts.Runtime.RunningOf(id));
        Assert.True(running!.RunEnded.Task.IsCompleted);
        Assert.Equal(ContainerState.Running, _parts.Catalog.Resolve(id).Status.State);
    }

    [Fact]
    public async Task AnExitThatWaitedInTheVmBeforeTheAnswerEndsTheContainer()
    {
        // The pump reads from the first frame: an exit that waited for the endpoint is not lost.
        var id = _parts.Running("waited");
        _channels.Play = async (guest, _) =>
        {
            await guest.SendAsync(FrameType.Exit, 0, Payloads.Int32(6));
            await guest.GuestReadAsync();
        };

        var exit = _parts.Runtime.Of(id).NextExit;

        var (_, answer) = await _parts.Connector.ConnectAsync(_channels, id, _parts.Runtime.Of(id).Log, CancellationToken.None);

        // The answer is known when the channel ends; the pump records the exit it read just after.
        var exited = await exit.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(TetherAnswer.ChannelEnded, answer);
        Assert.Equal(6, exited);
        Assert.Equal((ContainerState.Exited, 6), (_parts.Catalog.Resolve(id).Status.State, _parts.Catalog.Resolve(id).Status.ExitCode));
    }

    /// <summary>Answers the Attach with <paramref name="type"/>, then keeps the channel open.</summary>
    private static Func<LoopbackChannel, int, Task> AnswerAsync(FrameType type) => async (guest, _) =>
    {
        var attach = await guest.GuestReadAsync();
        Assert.Equal(FrameType.Attach, attach.Type);
        var payload = type == FrameType.Hello
            ? Payloads.Json(new HelloMessage(1, "test", "boot"), InteractionJson.Default.HelloMessage)
            : Payloads.Json(new StateReport([new SessionState(0, 9, null)]), InteractionJson.Default.StateReport);
        await guest.SendAsync(type, attach.Session, payload);
    };

    private static Func<LoopbackChannel, int, Task> Silent() => (_, _) => Task.CompletedTask;

    /// <summary>A VM's channels: each one opened is a fresh loopback socket played by <see cref="Play"/> (with its number, from 1).</summary>
    private sealed class Channels : IVmChannels, IDisposable
    {
        private readonly ConcurrentBag<LoopbackChannel> _open = [];
        private int _opened;

        public Func<LoopbackChannel, int, Task> Play { get; set; } = (_, _) => Task.CompletedTask;

        public bool Refuse { get; set; }

        public int Opened => Volatile.Read(ref _opened);

        public async Task<Stream> OpenChannelAsync(string vmId, CancellationToken cancellationToken)
        {
            if (Refuse)
            {
                throw new IOException($"connection to the channel of {vmId} refused");
            }

            var channel = await LoopbackChannel.ConnectAsync(cancellationToken);
            _open.Add(channel);
            var number = Interlocked.Increment(ref _opened);
            _ = Task.Run(() => Play(channel, number), CancellationToken.None);
            return channel.Host;
        }

        public void Dispose()
        {
            foreach (var channel in _open)
            {
                channel.Dispose();
            }
        }
    }
}
