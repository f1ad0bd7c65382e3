using System.Text.Json.Serialization;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Containers;

/// <summary>
/// Where a container is in its lifecycle. Each state is its own type and offers only the
/// transitions Docker allows from it; every other call is refused with the error dockerd gives,
/// so callers cannot drive a container into a state Docker would never show.
/// </summary>
/// <remarks>
/// The timestamps and the last exit code travel with every state because <c>docker inspect</c>
/// shows them whatever the current state is.
/// </remarks>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "$state")]
[JsonDerivedType(typeof(CreatedStatus), "created")]
[JsonDerivedType(typeof(RunningStatus), "running")]
[JsonDerivedType(typeof(PausedStatus), "paused")]
[JsonDerivedType(typeof(RestartingStatus), "restarting")]
[JsonDerivedType(typeof(ExitedStatus), "exited")]
[JsonDerivedType(typeof(DeadStatus), "dead")]
[JsonDerivedType(typeof(RemovingStatus), "removing")]
public abstract record ContainerStatus
{
    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public int ExitCode { get; init; }

    /// <summary>The last run's process was killed for memory (<c>State.OOMKilled</c>); a start clears it.</summary>
    public bool OomKilled { get; init; }

    /// <summary>The error text docker shows in <c>State.Error</c>, e.g. why the start failed.</summary>
    public string Error { get; init; } = "";

    [JsonIgnore]
    public abstract ContainerState State { get; }

    /// <summary>True while a process is (or is about to be) running: Docker's <c>State.Running</c>.</summary>
    [JsonIgnore]
    public virtual bool IsRunning => false;

    /// <summary>The process started (or restarted after a restart policy fired).</summary>
    public virtual RunningStatus Start(ContainerRef who, DateTimeOffset at) =>
        throw PortLayerException.Conflict($"container {who.Id} is in state {State.ToWire()} and cannot be started");

    /// <summary>The process ended with <paramref name="exitCode"/>.</summary>
    public virtual ExitedStatus Exit(ContainerRef who, int exitCode, DateTimeOffset at, string error = "") =>
        throw PortLayerException.Conflict($"container {who.Id} is not running");

    public virtual PausedStatus Pause(ContainerRef who) =>
        throw PortLayerException.Conflict($"container {who.Id} is not running");

    public virtual RunningStatus Unpause(ContainerRef who) =>
        throw PortLayerException.Conflict($"container {who.Id} is not paused");

    /// <summary>The restart policy fired after an exit; the process will be started again.</summary>
    public virtual RestartingStatus BeginRestart(ContainerRef who) =>
        throw PortLayerException.Conflict($"container {who.Id} cannot restart from state {State.ToWire()}");

    /// <summary>Removal started; <paramref name="force"/> allows it while running.</summary>
    public virtual RemovingStatus BeginRemoval(ContainerRef who, bool force) =>
        new() { StartedAt = StartedAt, FinishedAt = FinishedAt, ExitCode = ExitCode, Error = Error, OomKilled = OomKilled };

    /// <summary>Removal failed half way: Docker marks the container dead and only removal is left.</summary>
    public DeadStatus MarkDead(string error) =>
        new() { StartedAt = StartedAt, FinishedAt = FinishedAt, ExitCode = ExitCode, Error = error, OomKilled = OomKilled };

    /// <summary>
    /// Checks that a stop would do something. Docker answers 304 when the container is already stopped.
    /// </summary>
    public virtual void EnsureStoppable(ContainerRef who) =>
        throw PortLayerException.NotModified($"container {who.Id} is already stopped");

    /// <summary>Checks that there is a process to signal.</summary>
    public virtual void EnsureKillable(ContainerRef who) =>
        throw PortLayerException.Conflict($"cannot kill container: {who.Name}: container {who.Id} is not running");

    private protected RunningStatus Started(DateTimeOffset at) =>
        new() { StartedAt = at, FinishedAt = null, ExitCode = 0, Error = "" };

    private protected PortLayerException RunningRemovalRefused(ContainerRef who) =>
        PortLayerException.Conflict(
            $"cannot remove container \"/{who.Name}\": container is {State.ToWire()}: stop the container before removing or force remove");
}

/// <summary>Created and never started.</summary>
public sealed record CreatedStatus : ContainerStatus
{
    public override ContainerState State => ContainerState.Created;

    public override RunningStatus Start(ContainerRef who, DateTimeOffset at) => Started(at);
}

/// <summary>The process runs in its ContainerVM.</summary>
public sealed record RunningStatus : ContainerStatus
{
    public override ContainerState State => ContainerState.Running;

    public override bool IsRunning => true;

    public override RunningStatus Start(ContainerRef who, DateTimeOffset at) =>
        throw PortLayerException.NotModified($"container {who.Id} is already started");

    public override ExitedStatus Exit(ContainerRef who, int exitCode, DateTimeOffset at, string error = "") =>
        new() { StartedAt = StartedAt, FinishedAt = at, ExitCode = exitCode, Error = error };

    public override PausedStatus Pause(ContainerRef who) =>
        new() { StartedAt = StartedAt, FinishedAt = FinishedAt, ExitCode = ExitCode };

    public override RemovingStatus BeginRemoval(ContainerRef who, bool force) =>
        force ? base.BeginRemoval(who, force) : throw RunningRemovalRefused(who);

    public override void EnsureStoppable(ContainerRef who)
    {
    }

    public override void EnsureKillable(ContainerRef who)
    {
    }
}

/// <summary>The ContainerVM's process is frozen; it still counts as running for Docker.</summary>
public sealed record PausedStatus : ContainerStatus
{
    public override ContainerState State => ContainerState.Paused;

    public override bool IsRunning => true;

    public override RunningStatus Start(ContainerRef who, DateTimeOffset at) =>
        throw PortLayerException.Conflict("cannot start a paused container, try unpause instead");

    public override ExitedStatus Exit(ContainerRef who, int exitCode, DateTimeOffset at, string error = "") =>
        new() { StartedAt = StartedAt, FinishedAt = at, ExitCode = exitCode, Error = error };

    public override PausedStatus Pause(ContainerRef who) =>
        throw PortLayerException.Conflict($"container {who.Id} is already paused");

    public override RunningStatus Unpause(ContainerRef who) =>
        new() { StartedAt = StartedAt, FinishedAt = FinishedAt, ExitCode = ExitCode };

    // dockerd words this refusal apart from the running and restarting ones.
    public override RemovingStatus BeginRemoval(ContainerRef who, bool force) =>
        force
            ? base.BeginRemoval(who, force)
            : throw PortLayerException.Conflict($"cannot remove container \"/{who.Name}\": container is paused and must be unpaused first");

    public override void EnsureStoppable(ContainerRef who)
    {
    }

    public override void EnsureKillable(ContainerRef who)
    {
    }
}

/// <summary>Between an exit and the restart its policy asked for.</summary>
public sealed record RestartingStatus : ContainerStatus
{
    public override ContainerState State => ContainerState.Restarting;

    public override bool IsRunning => true;

    public override RunningStatus Start(ContainerRef who, DateTimeOffset at) => Started(at);

    // Stopped while it waited to restart: the last run's OOM kill stays shown, as dockerd's does.
    public override ExitedStatus Exit(ContainerRef who, int exitCode, DateTimeOffset at, string error = "") =>
        new() { StartedAt = StartedAt, FinishedAt = at, ExitCode = exitCode, Error = error, OomKilled = OomKilled };

    public override PausedStatus Pause(ContainerRef who) =>
        throw PortLayerException.Conflict($"container {who.Id} is restarting, wait until the container is running");

    public override RemovingStatus BeginRemoval(ContainerRef who, bool force) =>
        force ? base.BeginRemoval(who, force) : throw RunningRemovalRefused(who);

    public override void EnsureStoppable(ContainerRef who)
    {
    }

    public override void EnsureKillable(ContainerRef who)
    {
    }
}

/// <summary>The process ended; the ContainerVM is powered off and its disks are kept.</summary>
public sealed record ExitedStatus : ContainerStatus
{
    public override ContainerState State => ContainerState.Exited;

    public override RunningStatus Start(ContainerRef who, DateTimeOffset at) => Started(at);

    public override RestartingStatus BeginRestart(ContainerRef who) =>
        new() { StartedAt = StartedAt, FinishedAt = FinishedAt, ExitCode = ExitCode, Error = Error, OomKilled = OomKilled };
}

/// <summary>Removal failed part way; only another removal is allowed.</summary>
public sealed record DeadStatus : ContainerStatus
{
    public override ContainerState State => ContainerState.Dead;

    public override RunningStatus Start(ContainerRef who, DateTimeOffset at) =>
        throw PortLayerException.Conflict("container is marked for removal and cannot be started");
}

/// <summary>Removal in progress.</summary>
public sealed record RemovingStatus : ContainerStatus
{
    public override ContainerState State => ContainerState.Removing;

    public override RunningStatus Start(ContainerRef who, DateTimeOffset at) =>
        throw PortLayerException.Conflict("container is marked for removal and cannot be started");

    public override RemovingStatus BeginRemoval(ContainerRef who, bool force) =>
        throw PortLayerException.Conflict($"removal of container {who.Id} is already in progress");
}

/// <summary>The two names of a container used in error texts.</summary>
public readonly record struct ContainerRef(string Id, string Name);
