using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Tests;

/// <summary>docker exec alone: a real catalog, and a running container whose tether is the test's end of a loopback channel.</summary>
public sealed class ExecSessionsTests : IAsyncLifetime, IDisposable
{
    private static readonly ExecOptions Echo = new(["echo", "hi"], [], "", "", Tty: false, AttachStdin: false, AttachStdout: true, AttachStderr: true);
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();
    private VchStore _store = null!;
    private ContainerCatalog _catalog = null!;
    private ContainerRuntimeTable _runtime = null!;
    private ExecSessions _execs = null!;
    private LoopbackChannel? _channel;
    private string _id = "";

    public async Task InitializeAsync()
    {
        _store = VchStore.Open(_dir.File("vch.db"));
        _catalog = new ContainerCatalog(_store, new EventBus(_time), _time);
        _runtime = new ContainerRuntimeTable(id => throw new InvalidOperationException("no log here"), _catalog.Contains);
        _execs = new ExecSessions(_catalog, _runtime);
        _id = _catalog.Create(new NewContainer("box", "busybox", null, new ContainerConfig { Cmd = ["sleep", "600"] })).Id;
        _catalog.Transition(_id, (who, s) => s.Start(who, _time.GetUtcNow()), "start");

        _channel = await LoopbackChannel.ConnectAsync();
        _runtime.Of(_id).Running = new RunningContainer(_channel.Host, _id);
    }

    /// <remarks>xunit calls <see cref="Dispose"/> as well: it does the work.</remarks>
    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _channel?.Dispose();
        _runtime?.Dispose();
        _store?.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task ExecsStartInTheVmOnSessionsOfTheirOwnAndRunOnce()
    {
        var first = _execs.Create("box", Echo);
        var second = _execs.Create(_id, Echo with { Args = ["id", "-u"], User = "nobody", Tty = true });

        await _execs.StartAsync(first.Id, detached: false, CancellationToken.None);
        await _execs.StartAsync(second.Id, detached: true, CancellationToken.None);
        var frames = new[] { await GuestReadAsync(), await GuestReadAsync() };
        var again = Assert.Throws<PortLayerException>(() => _execs.Startable(first.Id));

        Assert.Equal([(FrameType.Exec, 1u), (FrameType.Exec, 2u)], frames.Select(f => (f.Type, f.Session)));
        var spec = Payloads.Json(frames[1].Payload, InteractionJson.Default.ExecSpec);
        Assert.Equal(["id", "-u"], spec.Args);
        Assert.Equal("nobody", spec.User);
        Assert.True(spec.Tty);
        Assert.Same(first, _execs.Find(first.Id));
        Assert.True(first.Running);
        Assert.Equal(ErrorKind.Conflict, again.Kind);
        Assert.Contains("has already run", again.Message, StringComparison.Ordinal);
        Assert.Same(second, _runtime.RunningOf(_id)!.Execs[2]);
    }

    [Fact]
    public async Task AnExecsStdinIsRelayedToItsSessionAndItsEndClosesIt()
    {
        var exec = _execs.Create("box", Echo with { Args = ["cat"], AttachStdin = true });
        await _execs.StartAsync(exec.Id, detached: false, CancellationToken.None);
        var started = await GuestReadAsync();

        await exec.WriteStdinAsync("line\n"u8.ToArray());
        await exec.CloseStdinAsync();
        var input = await GuestReadAsync();
        var closed = await GuestReadAsync();

        Assert.Equal(FrameType.Exec, started.Type);
        Assert.Equal((FrameType.Stdin, started.Session, "line\n"), (input.Type, input.Session, Payloads.Text(input.Payload)));
        Assert.Equal((FrameType.StdinClose, started.Session), (closed.Type, closed.Session));
    }

    [Fact]
    public async Task AResizeReachesARunningExecsSessionOnly()
    {
        var waiting = _execs.Create("box", Echo with { Tty = true });
        var running = _execs.Create("box", Echo with { Tty = true });
        await _execs.ResizeAsync(waiting.Id, 40, 120, CancellationToken.None);
        await _execs.StartAsync(running.Id, detached: false, CancellationToken.None);
        await _execs.ResizeAsync(running.Id, 40, 120, CancellationToken.None);

        var frames = new[] { await GuestReadAsync(), await GuestReadAsync() };

        Assert.Equal([FrameType.Exec, FrameType.Resize], frames.Select(f => f.Type));
        Assert.Equal(running.Session, frames[1].Session);
    }

    [Fact]
    public void WhatCannotRunIsRefusedAsDockerdRefusesIt()
    {
        var noCommand = Assert.Throws<PortLayerException>(() => _execs.Create("box", Echo with { Args = [] }));
        var unknown = Assert.Throws<PortLayerException>(() => _execs.Find("nosuch"));
        var made = _execs.Create("box", Echo);
        _catalog.Transition(_id, (who, s) => s.Pause(who), "pause");
        var paused = Assert.Throws<PortLayerException>(() => _execs.Create("box", Echo));
        _catalog.Transition(_id, (who, s) => s.Unpause(who), "unpause");
        _runtime.Of(_id).TakeRunning()!.Dispose();
        var ended = Assert.Throws<PortLayerException>(() => _execs.Startable(made.Id));
        var stopped = Assert.Throws<PortLayerException>(() => _execs.Create("box", Echo));

        Assert.Equal((ErrorKind.InvalidParameter, "No exec command specified"), (noCommand.Kind, noCommand.Message));
        Assert.Equal((ErrorKind.NotFound, "No such exec instance: nosuch"), (unknown.Kind, unknown.Message));
        Assert.Equal(ErrorKind.Conflict, paused.Kind);
        Assert.Contains("is paused, unpause the container before exec", paused.Message, StringComparison.Ordinal);
        Assert.Equal((ErrorKind.Conflict, $"Container {_id} is not running"), (ended.Kind, ended.Message));
        Assert.Equal(ErrorKind.Conflict, stopped.Kind);
    }

    private Task<Frame> GuestReadAsync() => _channel!.GuestReadAsync();
}
