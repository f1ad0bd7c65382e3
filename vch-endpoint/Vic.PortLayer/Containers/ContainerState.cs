namespace Vic.PortLayer.Containers;

/// <summary>The lifecycle states Docker reports in <c>State.Status</c>; their names are its wire strings.</summary>
public enum ContainerState
{
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
}

public static class ContainerStateNames
{
    /// <summary>The lower-case string docker prints in <c>ps</c> filters and <c>inspect</c>.</summary>
    public static string ToWire(this ContainerState state) => state switch
    {
        ContainerState.Created => "created",
        ContainerState.Running => "running",
        ContainerState.Paused => "paused",
        ContainerState.Restarting => "restarting",
        ContainerState.Exited => "exited",
        ContainerState.Dead => "dead",
        ContainerState.Removing => "removing",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };
}
