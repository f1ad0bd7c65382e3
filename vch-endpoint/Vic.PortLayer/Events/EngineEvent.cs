namespace Vic.PortLayer.Events;

/// <summary>
/// Something that happened in the VCH, in Docker's event vocabulary: an object <see cref="Type"/>
/// (container, image, volume, network, daemon, ...) had an <see cref="Action"/> (create, start, die,
/// pull, ...) done to the actor <see cref="ActorId"/>, whose details travel in <see cref="Attributes"/>
/// (<c>name</c>, <c>image</c>, labels, <c>exitCode</c>).
/// </summary>
public sealed record EngineEvent(
    string Type,
    string Action,
    string ActorId,
    IReadOnlyDictionary<string, string> Attributes,
    long TimeNano,
    string Scope = "local")
{
    public DateTimeOffset Time => DateTimeOffset.UnixEpoch.AddTicks(TimeNano / 100);

    public static long ToUnixNanos(DateTimeOffset at) => (at - DateTimeOffset.UnixEpoch).Ticks * 100;
}

/// <summary>The Docker event object types the VCH emits.</summary>
public static class EventTypes
{
    public const string Container = "container";
    public const string Image = "image";
    public const string Volume = "volume";
    public const string Network = "network";
    public const string Daemon = "daemon";
}
