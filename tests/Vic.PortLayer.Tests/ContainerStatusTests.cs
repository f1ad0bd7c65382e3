using System.Text.Json;
using System.Text.Json.Nodes;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Tests;

/// <summary>Every lifecycle call from every state: the legal ones and the refusals Docker gives.</summary>
public sealed class ContainerStatusTests
{
    public enum Move
    {
        Start,
        Exit,
        Pause,
        Unpause,
        BeginRestart,
        RemoveForced,
        RemoveUnforced,
        EnsureStoppable,
        EnsureKillable,
    }

    private const string Id = "4f1c2e9a7b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
    private const string Name = "web";

    /// <summary>The property that names the state in stored JSON (<c>JsonPolymorphic</c> on ContainerStatus).</summary>
    private const string Discriminator = "$state";
    private static readonly ContainerRef Who = new(Id, Name);

    private static readonly DateTimeOffset FirstStart = new(2024, 3, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset FirstExit = new(2024, 3, 1, 11, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = new(2024, 3, 2, 9, 30, 0, TimeSpan.Zero);

    /// <summary>Moves that succeed, and the state they lead to (null: a check that passes and changes nothing).</summary>
    public static TheoryData<ContainerState, Move, ContainerState?> Legal => new()
    {
        { ContainerState.Created, Move.Start, ContainerState.Running },
        { ContainerState.Created, Move.RemoveForced, ContainerState.Removing },
        { ContainerState.Created, Move.RemoveUnforced, ContainerState.Removing },

        { ContainerState.Running, Move.Exit, ContainerState.Exited },
        { ContainerState.Running, Move.Pause, ContainerState.Paused },
        { ContainerState.Running, Move.RemoveForced, ContainerState.Removing },
        { ContainerState.Running, Move.EnsureStoppable, null },
        { ContainerState.Running, Move.EnsureKillable, null },

        { ContainerState.Paused, Move.Exit, ContainerState.Exited },
        { ContainerState.Paused, Move.Unpause, ContainerState.Running },
        { ContainerState.Paused, Move.RemoveForced, ContainerState.Removing },
        { ContainerState.Paused, Move.EnsureStoppable, null },
        { ContainerState.Paused, Move.EnsureKillable, null },

        { ContainerState.Restarting, Move.Start, ContainerState.Running },
        { ContainerState.Restarting, Move.Exit, ContainerState.Exited },
        { ContainerState.Restarting, Move.RemoveForced, ContainerState.Removing },
        { ContainerState.Restarting, Move.EnsureStoppable, null },
        { ContainerState.Restarting, Move.EnsureKillable, null },

        { ContainerState.Exited, Move.Start, ContainerState.Running },
        { ContainerState.Exited, Move.BeginRestart, ContainerState.Restarting },
        { ContainerState.Exited, Move.RemoveForced, ContainerState.Removing },
        { ContainerState.Exited, Move.RemoveUnforced, ContainerState.Removing },

        { ContainerState.Dead, Move.RemoveForced, ContainerState.Removing },
        { ContainerState.Dead, Move.RemoveUnforced, ContainerState.Removing },
    };

    /// <summary>Moves that are refused, with the error kind and dockerd's text ({id} and {name} filled in).</summary>
    public static TheoryData<ContainerState, Move, ErrorKind, string> Illegal => new()
    {
        { ContainerState.Created, Move.Exit, ErrorKind.Conflict, "container {id} is not running" },
        { ContainerState.Created, Move.Pause, ErrorKind.Conflict, "container {id} is not running" },
        { ContainerState.Created, Move.Unpause, ErrorKind.Conflict, "container {id} is not paused" },
        { ContainerState.Created, Move.BeginRestart, ErrorKind.Conflict, "container {id} cannot restart from state created" },
        { ContainerState.Created, Move.EnsureStoppable, ErrorKind.NotModified, "container {id} is already stopped" },
        { ContainerState.Created, Move.EnsureKillable, ErrorKind.Conflict, "cannot kill container: {name}: container {id} is not running" },

        { ContainerState.Running, Move.Start, ErrorKind.NotModified, "container {id} is already started" },
        { ContainerState.Running, Move.Unpause, ErrorKind.Conflict, "container {id} is not paused" },
        { ContainerState.Running, Move.BeginRestart, ErrorKind.Conflict, "container {id} cannot restart from state running" },
        {
            ContainerState.Running, Move.RemoveUnforced, ErrorKind.Conflict,
            "cannot remove container \"/{name}\": container is running: stop the container before removing or force remove"
        },

        { ContainerState.Paused, Move.Start, ErrorKind.Conflict, "cannot start a paused container, try unpause instead" },
        { ContainerState.Paused, Move.Pause, ErrorKind.Conflict, "container {id} is already paused" },
        { ContainerState.Paused, Move.BeginRestart, ErrorKind.Conflict, "container {id} cannot restart from state paused" },
        {
            ContainerState.Paused, Move.RemoveUnforced, ErrorKind.Conflict,
            "cannot remove container \"/{name}\": container is paused and must be unpaused first"
        },

        { ContainerState.Restarting, Move.Pause, ErrorKind.Conflict, "container {id} is restarting, wait until the container is running" },
        { ContainerState.Restarting, Move.Unpause, ErrorKind.Conflict, "container {id} is not paused" },
        { ContainerState.Restarting, Move.BeginRestart, ErrorKind.Conflict, "container {id} cannot restart from state restarting" },
        {
            ContainerState.Restarting, Move.RemoveUnforced, ErrorKind.Conflict,
            "cannot remove container \"/{name}\": container is restarting: stop the container before removing or force remove"
        },

        { ContainerState.Exited, Move.Exit, ErrorKind.Conflict, "container {id} is not running" },
        { ContainerState.Exited, Move.Pause, ErrorKind.Conflict, "container {id} is not running" },
        { ContainerState.Exited, Move.Unpause, ErrorKind.Conflict, "container {id} is not paused" },
        { ContainerState.Exited, Move.EnsureStoppable, ErrorKind.NotModified, "container {id} is already stopped" },
        { ContainerState.Exited, Move.EnsureKillable, ErrorKind.Conflict, "cannot kill container: {name}: container {id} is not running" },

        { ContainerState.Dead, Move.Start, ErrorKind.Conflict, "container is marked for removal and cannot be started" },
        { ContainerState.Dead, Move.Exit, ErrorKind.Conflict, "container {id} is not running" },
        { ContainerState.Dead, Move.Pause, ErrorKind.Conflict, "container {id} is not running" },
        { ContainerState.Dead, Move.Unpause, ErrorKind.Conflict, "container {id} is not paused" },
        { ContainerState.Dead, Move.BeginRestart, ErrorKind.Conflict, "container {id} cannot restart from state dead" },
        { ContainerState.Dead, Move.EnsureStoppable, ErrorKind.NotModified, "container {id} is already stopped" },
        { ContainerState.Dead, Move.EnsureKillable, ErrorKind.Conflict, "cannot kill container: {name}: container {id} is not running" },

        { ContainerState.Removing, Move.Start, ErrorKind.Conflict, "container is marked for removal and cannot be started" },
        { ContainerState.Removing, Move.Exit, ErrorKind.Conflict, "container {id} is not running" },
        { ContainerState.Removing, Move.Pause, ErrorKind.Conflict, "container {id} is not running" },
        { ContainerState.Removing, Move.Unpause, ErrorKind.Conflict, "container {id} is not paused" },
        { ContainerState.Removing, Move.BeginRestart, ErrorKind.Conflict, "container {id} cannot restart from state removing" },
        { ContainerState.Removing, Move.RemoveForced, ErrorKind.Conflict, "removal of container {id} is already in progress" },
        { ContainerState.Removing, Move.RemoveUnforced, ErrorKind.Conflict, "removal of container {id} is already in progress" },
        { ContainerState.Removing, Move.EnsureStoppable, ErrorKind.NotModified, "container {id} is already stopped" },
        { ContainerState.Removing, Move.EnsureKillable, ErrorKind.Conflict, "cannot kill container: {name}: container {id} is not running" },
    };

    public static TheoryData<ContainerState> AllStates => new(Enum.GetValues<ContainerState>());

    [Fact]
    public void TheTablesCoverEveryStateAndMoveExactlyOnce()
    {
        var legal = Legal.Select(row => ((ContainerState)row[0], (Move)row[1]));
        var illegal = Illegal.Select(row => ((ContainerState)row[0], (Move)row[1]));
        var covered = legal.Concat(illegal).ToList();

        var everyPair = Enum.GetValues<ContainerState>().SelectMany(s => Enum.GetValues<Move>().Select(m => (s, m))).ToList();
        Assert.Equal(everyPair.Count, covered.Count);
        Assert.Equal(everyPair.ToHashSet(), covered.ToHashSet());
    }

    [Theory]
    [MemberData(nameof(Legal))]
    public void LegalMoveLeadsToTheRightStateAndCarriesTheRightTimes(ContainerState from, Move move, ContainerState? to)
    {
        var before = Sample(from);

        var after = Apply(before, move);

        if (to is null)
        {
            Assert.Null(after);
            return;
        }

        Assert.NotNull(after);
        Assert.Equal(to, after.State);
        Assert.IsType(TypeOf(to.Value), after);
        switch (move)
        {
            case Move.Start:
                // A start begins a new run: fresh StartedAt, no finish, no exit code, no error.
                Assert.Equal(Now, after.StartedAt);
                Assert.Null(after.FinishedAt);
                Assert.Equal(0, after.ExitCode);
                Assert.Equal("", after.Error);
                break;
            case Move.Exit:
                Assert.Equal(before.StartedAt, after.StartedAt);
                Assert.Equal(Now, after.FinishedAt);
                Assert.Equal(137, after.ExitCode);
                Assert.Equal("killed by signal", after.Error);
                break;
            case Move.Pause or Move.Unpause:
                Assert.Equal(before.StartedAt, after.StartedAt);
                Assert.Equal(before.FinishedAt, after.FinishedAt);
                Assert.Equal(before.ExitCode, after.ExitCode);
                break;
            case Move.BeginRestart or Move.RemoveForced or Move.RemoveUnforced:
                // Nothing ran or ended: inspect still shows the last run.
                Assert.Equal(before.StartedAt, after.StartedAt);
                Assert.Equal(before.FinishedAt, after.FinishedAt);
                Assert.Equal(before.ExitCode, after.ExitCode);
                Assert.Equal(before.Error, after.Error);
                break;
            default:
                Assert.Fail($"unexpected move {move}");
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Illegal))]
    public void IllegalMoveIsRefusedWithDockersErrorAndKindOfFailure(ContainerState from, Move move, ErrorKind kind, string message)
    {
        var before = Sample(from);

        var error = Assert.Throws<PortLayerException>(() => Apply(before, move));

        Assert.Equal(kind, error.Kind);
        Assert.Equal(message.Replace("{id}", Id, StringComparison.Ordinal).Replace("{name}", Name, StringComparison.Ordinal), error.Message);
    }

    [Theory]
    [MemberData(nameof(AllStates))]
    public void MarkDeadFromAnyStateKeepsTheLastRunAndRecordsTheError(ContainerState from)
    {
        var before = Sample(from);

        var dead = before.MarkDead("driver failed to remove root filesystem");

        Assert.Equal(ContainerState.Dead, dead.State);
        Assert.False(dead.IsRunning);
        Assert.Equal(before.StartedAt, dead.StartedAt);
        Assert.Equal(before.FinishedAt, dead.FinishedAt);
        Assert.Equal(before.ExitCode, dead.ExitCode);
        Assert.Equal("driver failed to remove root filesystem", dead.Error);
    }

    [Theory]
    [InlineData(ContainerState.Created, false)]
    [InlineData(ContainerState.Running, true)]
    [InlineData(ContainerState.Paused, true)]
    [InlineData(ContainerState.Restarting, true)]
    [InlineData(ContainerState.Exited, false)]
    [InlineData(ContainerState.Dead, false)]
    [InlineData(ContainerState.Removing, false)]
    public void IsRunningIsDockersStateRunning(ContainerState state, bool running)
    {
        var status = Sample(state);

        Assert.Equal(state, status.State);
        Assert.Equal(running, status.IsRunning);
    }

    [Fact]
    public void AWholeLifeKeepsTheTimesInspectShows()
    {
        var t0 = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
        ContainerStatus status = new CreatedStatus();
        Assert.Null(status.StartedAt);
        Assert.Null(status.FinishedAt);

        status = status.Start(Who, t0);
        status = status.Pause(Who);
        status = status.Unpause(Who);
        Assert.Equal(t0, status.StartedAt);

        status = status.Exit(Who, 3, t0.AddMinutes(5), "");
        Assert.Equal((t0, t0.AddMinutes(5), 3), (status.StartedAt, status.FinishedAt, status.ExitCode));

        // The restart policy fires: still the old run until the new process starts.
        status = ((ExitedStatus)status).BeginRestart(Who);
        Assert.Equal((ContainerState.Restarting, t0.AddMinutes(5), 3), (status.State, status.FinishedAt, status.ExitCode));

        status = status.Start(Who, t0.AddMinutes(6));
        Assert.Equal((t0.AddMinutes(6), (DateTimeOffset?)null, 0), (status.StartedAt, status.FinishedAt, status.ExitCode));

        status = status.Exit(Who, 0, t0.AddMinutes(7));
        status = status.BeginRemoval(Who, force: false);
        Assert.Equal(ContainerState.Removing, status.State);
        Assert.Equal(t0.AddMinutes(7), status.FinishedAt);
    }

    [Theory]
    [MemberData(nameof(AllStates))]
    public void EveryStateRoundTripsThroughJsonWithItsDiscriminator(ContainerState state)
    {
        var status = Sample(state) with { Error = "some error" };

        foreach (var options in new[] { JsonSerializerOptions.Default, JsonSerializerOptions.Web })
        {
            var json = JsonSerializer.Serialize(status, options);

            // The discriminator leads the object (System.Text.Json only reads it there) and names the state.
            var node = JsonNode.Parse(json)!.AsObject();
            Assert.Equal(Discriminator, node.First().Key);
            Assert.Equal(state.ToWire(), (string?)node[Discriminator]);

            var back = JsonSerializer.Deserialize<ContainerStatus>(json, options);
            Assert.NotNull(back);
            Assert.IsType(status.GetType(), back);
            Assert.Equal(status, back);
            Assert.Equal(state, back.State);
        }
    }

    [Fact]
    public void StoredJsonIsReadBackByItsDiscriminator()
    {
        // What an older build wrote must stay readable: the discriminator is part of the store's format.
        var json = $$"""{"{{Discriminator}}":"exited","startedAt":"2024-03-01T10:00:00+00:00","finishedAt":"2024-03-01T11:00:00+00:00","exitCode":2,"error":"exit 2"}""";

        var status = JsonSerializer.Deserialize<ContainerStatus>(json, JsonSerializerOptions.Web);

        Assert.Equal(Sample(ContainerState.Exited), status);
    }

    [Fact]
    public void JsonWithAnUnknownStateIsRejected()
    {
        var error = Assert.Throws<JsonException>(
            () => JsonSerializer.Deserialize<ContainerStatus>($$"""{"{{Discriminator}}":"zombie","exitCode":1}"""));
        Assert.Contains("zombie", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ContainerState.Created, "created")]
    [InlineData(ContainerState.Running, "running")]
    [InlineData(ContainerState.Paused, "paused")]
    [InlineData(ContainerState.Restarting, "restarting")]
    [InlineData(ContainerState.Exited, "exited")]
    [InlineData(ContainerState.Dead, "dead")]
    [InlineData(ContainerState.Removing, "removing")]
    public void WireNamesAreDockers(ContainerState state, string wire) => Assert.Equal(wire, state.ToWire());

    /// <summary>A status in <paramref name="state"/> whose fields all differ, so carrying the wrong one shows.</summary>
    private static ContainerStatus Sample(ContainerState state) => state switch
    {
        ContainerState.Created => new CreatedStatus(),
        ContainerState.Running => new RunningStatus { StartedAt = FirstStart },
        ContainerState.Paused => new PausedStatus { StartedAt = FirstStart },
        ContainerState.Restarting => new RestartingStatus { StartedAt = FirstStart, FinishedAt = FirstExit, ExitCode = 2 },
        ContainerState.Exited => new ExitedStatus { StartedAt = FirstStart, FinishedAt = FirstExit, ExitCode = 2, Error = "exit 2" },
        ContainerState.Dead => new DeadStatus { StartedAt = FirstStart, FinishedAt = FirstExit, ExitCode = 2, Error = "remove failed" },
        ContainerState.Removing => new RemovingStatus { StartedAt = FirstStart, FinishedAt = FirstExit, ExitCode = 2 },
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    private static Type TypeOf(ContainerState state) => state switch
    {
        ContainerState.Created => typeof(CreatedStatus),
        ContainerState.Running => typeof(RunningStatus),
        ContainerState.Paused => typeof(PausedStatus),
        ContainerState.Restarting => typeof(RestartingStatus),
        ContainerState.Exited => typeof(ExitedStatus),
        ContainerState.Dead => typeof(DeadStatus),
        ContainerState.Removing => typeof(RemovingStatus),
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    [Fact]
    public void AnOomKillStaysShownThroughARestartsWaitAStopInItARemovalAndDeathAndAStartClearsIt()
    {
        var killed = new RunningStatus { StartedAt = FirstStart }.Exit(Who, 137, FirstExit) with { OomKilled = true };

        var restarting = killed.BeginRestart(Who);
        var stoppedWhileWaiting = restarting.Exit(Who, 137, Now);
        var removing = killed.BeginRemoval(Who, force: false);
        var dead = killed.MarkDead("could not remove");
        var started = killed.Start(Who, Now);

        Assert.Equal([true, true, true, true], new[] { restarting.OomKilled, stoppedWhileWaiting.OomKilled, removing.OomKilled, dead.OomKilled });
        Assert.False(started.OomKilled);
        var stored = JsonSerializer.Deserialize<ContainerStatus>(JsonSerializer.Serialize<ContainerStatus>(killed));
        Assert.True(stored!.OomKilled);
    }

    private static ContainerStatus? Apply(ContainerStatus status, Move move)
    {
        switch (move)
        {
            case Move.Start:
                return status.Start(Who, Now);
            case Move.Exit:
                return status.Exit(Who, 137, Now, "killed by signal");
            case Move.Pause:
                return status.Pause(Who);
            case Move.Unpause:
                return status.Unpause(Who);
            case Move.BeginRestart:
                return status.BeginRestart(Who);
            case Move.RemoveForced:
                return status.BeginRemoval(Who, force: true);
            case Move.RemoveUnforced:
                return status.BeginRemoval(Who, force: false);
            case Move.EnsureStoppable:
                status.EnsureStoppable(Who);
                return null;
            case Move.EnsureKillable:
                status.EnsureKillable(Who);
                return null;
            default:
                throw new ArgumentOutOfRangeException(nameof(move));
        }
    }
}
