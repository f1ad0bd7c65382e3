namespace Vic.Interaction;

/// <summary>
/// What a frame carries. The endpoint (E) and the tether (T) of one ContainerVM share one byte
/// stream; every frame names a session: 0 is the container's main process, others are exec sessions
/// numbered by the endpoint.
/// </summary>
public enum FrameType : byte
{
    /// <summary>T→E: the tether is up and waits for its spec. JSON <see cref="HelloMessage"/>.</summary>
    Hello = 0x01,

    /// <summary>E→T: what to run. JSON <see cref="ContainerSpec"/>; sent once per boot (or clone).</summary>
    Spec = 0x02,

    /// <summary>T→E: the session's process runs. JSON <see cref="StartedMessage"/>.</summary>
    Started = 0x03,

    /// <summary>E→T: bytes for the session's stdin.</summary>
    Stdin = 0x04,

    /// <summary>E→T: stdin is at its end (the client half-closed).</summary>
    StdinClose = 0x05,

    /// <summary>T→E: bytes the session wrote to stdout (or to its TTY).</summary>
    Stdout = 0x06,

    /// <summary>T→E: bytes the session wrote to stderr.</summary>
    Stderr = 0x07,

    /// <summary>T→E: the session ended; 4-byte big-endian exit status (128+n for signal n).</summary>
    Exit = 0x08,

    /// <summary>E→T: start an exec session. JSON <see cref="ExecSpec"/>.</summary>
    Exec = 0x09,

    /// <summary>E→T: deliver a signal; 4-byte big-endian signal number.</summary>
    Signal = 0x0A,

    /// <summary>E→T: the TTY's size changed; 2-byte rows, 2-byte columns, big-endian.</summary>
    Resize = 0x0B,

    /// <summary>E→T: ask for resource figures.</summary>
    StatsRequest = 0x0C,

    /// <summary>T→E: resource figures. JSON <see cref="StatsReport"/>.</summary>
    Stats = 0x0D,

    /// <summary>E→T: stop everything and power the VM off.</summary>
    PowerOff = 0x0E,

    /// <summary>T→E: a session could not do what was asked; UTF-8 text.</summary>
    Error = 0x0F,

    /// <summary>E→T: a (re)connected endpoint asks what happened; the tether answers with <see cref="State"/>.</summary>
    Attach = 0x10,

    /// <summary>T→E: every session's state, including exits the endpoint missed. JSON <see cref="StateReport"/>.</summary>
    State = 0x11,

    /// <summary>E→T: freeze every process of the container (docker pause); answered with <see cref="Done"/> or <see cref="Error"/>.</summary>
    Pause = 0x12,

    /// <summary>E→T: thaw what <see cref="Pause"/> froze; answered with <see cref="Done"/> or <see cref="Error"/>.</summary>
    Unpause = 0x13,

    /// <summary>T→E: the request sent with this frame's session number is done.</summary>
    Done = 0x14,

    /// <summary>E→T: list the container's processes (docker top).</summary>
    TopRequest = 0x15,

    /// <summary>T→E: the container's processes. JSON <see cref="ProcessList"/>.</summary>
    Top = 0x16,

    /// <summary>
    /// E→T: a request on the container's files. JSON <see cref="FilesRequest"/>. Reads answer with
    /// <see cref="Data"/> frames and a <see cref="DataEnd"/>; a put sends its tar the same way and is
    /// answered with <see cref="Done"/>; stat and changes answer with <see cref="Done"/> carrying JSON.
    /// </summary>
    FilesRequest = 0x17,

    /// <summary>Either way: the next piece of the tar stream of the request on this session number.</summary>
    Data = 0x18,

    /// <summary>Either way: the tar stream of the request on this session number is complete.</summary>
    DataEnd = 0x19,

    /// <summary>E→T: the container's networks changed while it runs (connect, disconnect). JSON <see cref="NetworkSpec"/>; answered with <see cref="Done"/>.</summary>
    Network = 0x1A,

    /// <summary>
    /// E→T, to a template before it is saved: rehearse a start (a spec parsed, entropy, a root of
    /// tmpfs and overlay with the system mounts, a process run through vic-exec) and tidy it away, so
    /// clones do not pay what a first time costs. JSON <see cref="ContainerSpec"/>; answered with <see cref="Done"/>.
    /// </summary>
    Rehearse = 0x1B,

    /// <summary>
    /// E→T: limits for the running container's processes, from docker update (a cgroup in the
    /// guest). JSON <see cref="LimitsSpec"/>; answered with <see cref="Done"/> or <see cref="Error"/>.
    /// </summary>
    Limits = 0x1C,

    /// <summary>
    /// E→T: a connection to a published port (a backend that does not forward ports itself). JSON
    /// <see cref="PortConnect"/>; answered with <see cref="Done"/> once the guest's port took the
    /// connection, or <see cref="Error"/>. Then both ways: <see cref="Data"/> carries the bytes (one
    /// datagram each for UDP), <see cref="DataEnd"/> the sender's half-close, <see cref="Window"/>
    /// what the receiver passed on, <see cref="Disconnect"/> an abort.
    /// </summary>
    Connect = 0x1D,

    /// <summary>Either way, on a connection's session number: 4-byte big-endian count of bytes the receiver has passed on, which the sender may send again.</summary>
    Window = 0x1E,

    /// <summary>Either way, on a connection's session number: the connection is over, in both directions.</summary>
    Disconnect = 0x1F,

    /// <summary>
    /// E→T: the containers that share a network with this one changed (one started, connected or
    /// disconnected). JSON <see cref="PeerHostsUpdate"/>: its lines replace in /etc/hosts those the
    /// tether wrote for peers before, and nothing else; answered with <see cref="Done"/>.
    /// </summary>
    PeerHosts = 0x20,

    /// <summary>
    /// T→E, on the main session before its <see cref="Exit"/>: the guest's OOM killer killed a
    /// process since the container started (the VM is the container's: any kill is its). No payload.
    /// </summary>
    OomKilled = 0x21,
}

/// <summary>One unit of the interaction protocol.</summary>
public sealed record Frame(FrameType Type, uint Session, ReadOnlyMemory<byte> Payload)
{
    public const uint MainSession = 0;

    /// <summary>The session of the process a template rehearses (<see cref="FrameType.Rehearse"/>): never one the endpoint opens.</summary>
    public const uint RehearsalSession = uint.MaxValue;

    /// <summary>
    /// The SCSI target of a rehearsal's own scratch disk (a ready clone's): far above any spec's
    /// disks, so a start never mistakes it, or a late removal of it, for one of its own.
    /// </summary>
    public const int RehearsalDiskTarget = 63;

    /// <summary>
    /// Session numbers from here up name requests (stats, top, pause), not processes: the tether
    /// answers on the number it was asked on, so concurrent requests find their own answers.
    /// </summary>
    public const uint FirstRequest = 0x8000_0000;

    public override string ToString() => $"{Type} session={Session} payload={Payload.Length}B";
}

/// <summary>The stream broke the protocol: bad magic, unknown type, absurd length, or an end mid-frame.</summary>
public sealed class ProtocolException(string message) : IOException(message);
