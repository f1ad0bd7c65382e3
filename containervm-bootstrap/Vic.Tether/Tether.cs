using System.Collections.Concurrent;
using System.Net.Sockets;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// The tether's conversation with the endpoint: says hello, waits for the spec (an instant-clone
/// template is frozen right here), makes the root, runs the main process and exec sessions, relays
/// stdio, signals and resizes, reports exits, and powers the VM off when the container ends.
/// </summary>
internal sealed partial class Tether(TetherOptions options, Stream channel) : IDisposable
{
    private FrameReader _reader = new(channel);
    private readonly FrameWriter _writer = new(channel);
    private readonly ConcurrentDictionary<uint, ProcessSession> _sessions = new();
    private readonly ConcurrentDictionary<uint, int> _exits = new();
    private readonly ConcurrentDictionary<uint, System.Threading.Channels.Channel<Frame>> _uploads = new();
    private ContainerSpec? _spec;

    // The OOM killer's count when the container started: a kill after it is the container's.
    private long _oomKillsAtStart;
    private RootLayout _layout = new("/", null, []);
    private UserIdentity _user = UserIdentity.Root;
    private string? _cgroup;
    private string? _devicesCgroup;
    private NetworkSpec? _network;
    private IReadOnlyList<string> _peerHosts = [];
    private GuestPortRelays? _ports;

    public async Task<int> RunAsync()
    {
        await SendAsync(FrameType.Hello, 0, Hello()).ConfigureAwait(false);
        using var reaper = new Timer(_ => Reaper.ReapOrphans(pid => _sessions.Values.Any(s => s.Pid == pid)), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        while (await NextFrameAsync().ConfigureAwait(false) is { } frame)
        {
            try
            {
                if (await HandleAsync(frame).ConfigureAwait(false))
                {
                    break;
                }
            }
            catch (Exception ex) when (ex is not ProtocolException)
            {
                await SendAsync(FrameType.Error, frame.Session, Payloads.Text(ex.Message)).ConfigureAwait(false);
                if (frame.Type == FrameType.Spec)
                {
                    // No container without its root: report 127 like a missing command and stop.
                    await SendAsync(FrameType.Exit, Frame.MainSession, Payloads.Int32(127)).ConfigureAwait(false);
                    PowerOff();
                    return 127;
                }
            }
        }

        return 0;
    }

    public void Dispose() => _writer.Dispose();

    /// <summary>
    /// The next frame; after the endpoint reconnected (killed mid-frame, say, in the middle of a
    /// cp), read afresh from the new connection, and the uploads the old one left open are ended:
    /// their data is not coming.
    /// </summary>
    private async Task<Frame?> NextFrameAsync()
    {
        while (true)
        {
            try
            {
                return await _reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (HostReconnectedException)
            {
                _reader = new FrameReader(channel);
                ForgetEarlierEndpoint();
            }
        }
    }

    /// <summary>
    /// What an endpoint that went away had under way ends: its uploads' data is not coming, its
    /// relayed connections' clients are gone. A reconnect shows it on a virtio port; on a serial
    /// line only the Attach that opens every endpoint's conversation does.
    /// </summary>
    private void ForgetEarlierEndpoint()
    {
        Ports.EndAll();
        foreach (var session in _uploads.Keys.ToList())
        {
            if (_uploads.TryRemove(session, out var upload))
            {
                upload.Writer.TryComplete(new IOException("the endpoint went away in the middle of the upload"));
            }
        }
    }

    /// <summary>Handles one frame; true when the tether should stop reading.</summary>
    private async Task<bool> HandleAsync(Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Spec:
                var steps = System.Diagnostics.Stopwatch.StartNew();
                _spec = Payloads.Json(frame.Payload, InteractionJson.Default.ContainerSpec);
                if (options.InVm)
                {
                    _oomKillsAtStart = GuestStats.OomKills();
                    GuestEntropy.Seed(_spec.EntropySeed);
                    SetWallClock(_spec.WallClockUnixMs);
                }

                // The NICs first: NFS volumes are mounted over them while the root is prepared.
                _network = _spec.Network;
                _peerHosts = _spec.PeerHosts;
                if (options.InVm && _spec.Network is { } network)
                {
                    GuestNetwork.Apply(network);
                }

                var networkMs = steps.Elapsed.TotalMilliseconds;
                _layout = options.InVm ? RootFilesystem.Prepare(_spec, TimeSpan.FromSeconds(15)) : new RootLayout(options.HostRoot!, null, []);
                if (!options.InVm)
                {
                    RootFilesystem.WriteIdentity(RootPath, _spec);
                }

                if (_spec.FilesOnly)
                {
                    // A stopped container's files are served; nothing of it runs.
                    await SendAsync(FrameType.Done, 0, []).ConfigureAwait(false);
                    break;
                }

                var rootMs = steps.Elapsed.TotalMilliseconds;
                var processSteps = new StepClock();
                if (options.InVm)
                {
                    GuestConfinement.ApplySysctls(_spec.Sysctls);
                    _cgroup = GuestConfinement.PidsCgroup(_spec.Confinement?.PidsLimit ?? 0);
                    _devicesCgroup = GuestConfinement.DevicesCgroup(_spec.Confinement?.DeviceRules, _spec.Devices);
                    if (_devicesCgroup is not null)
                    {
                        GuestConfinement.ShowDevicesCgroup(RootPath, _devicesCgroup);
                    }
                }

                processSteps.Mark("confinement");
                _user = UserResolver.WithGroups(UserResolver.Resolve(_spec.User, RootPath), _spec.GroupAdd, RootPath);
                processSteps.Mark("user");
                var timings = new StartTimings(networkMs, networkMs + _layout.DiskWait.TotalMilliseconds, rootMs, 0, _layout.Steps);
                Start(Frame.MainSession, _spec.Args, _spec.Env, _spec.WorkingDir, _user, _spec.Tty, _spec.OpenStdin, _spec.Confinement, (timings, steps, processSteps));
                break;
            case FrameType.Exec:
                var exec = Payloads.Json(frame.Payload, InteractionJson.Default.ExecSpec);
                var spec = _spec ?? throw new InvalidOperationException("exec before the container started");
                var user = exec.User.Length > 0 ? UserResolver.WithGroups(UserResolver.Resolve(exec.User, RootPath), spec.GroupAdd, RootPath) : _user;
                var confinement = exec.Privileged && spec.Confinement is { } c ? c with { Capabilities = null } : spec.Confinement;
                Start(frame.Session, exec.Args, [.. spec.Env, .. exec.Env], exec.WorkingDir.Length > 0 ? exec.WorkingDir : spec.WorkingDir, user, exec.Tty, exec.OpenStdin, confinement);
                break;
            case FrameType.Stdin:
                if (_sessions.TryGetValue(frame.Session, out var target))
                {
                    await target.WriteStdinAsync(frame.Payload).ConfigureAwait(false);
                }

                break;
            case FrameType.StdinClose:
                Session(frame.Session)?.CloseStdin();
                break;
            case FrameType.Signal:
                Session(frame.Session)?.Signal(Payloads.Int32(frame.Payload));
                break;
            case FrameType.Resize:
                var (rows, columns) = Payloads.Size(frame.Payload);
                Session(frame.Session)?.Resize(rows, columns);
                break;
            case FrameType.StatsRequest:
                await SendAsync(FrameType.Stats, frame.Session, Payloads.Json(GuestStats.Read(), InteractionJson.Default.StatsReport)).ConfigureAwait(false);
                break;
            case FrameType.Pause or FrameType.Unpause:
                GuestProcesses.Freeze(frame.Type == FrameType.Pause, SessionPids(), options.InVm);
                await SendAsync(FrameType.Done, frame.Session, []).ConfigureAwait(false);
                break;
            case FrameType.Limits:
                var limits = Payloads.Json(frame.Payload, InteractionJson.Default.LimitsSpec);
                if (options.InVm)
                {
                    _cgroup = GuestConfinement.LimitMemory(limits.MemoryBytes);
                }

                await SendAsync(FrameType.Done, frame.Session, []).ConfigureAwait(false);
                break;
            case FrameType.Network:
                _network = Payloads.Json(frame.Payload, InteractionJson.Default.NetworkSpec);
                if (options.InVm)
                {
                    GuestNetwork.Apply(_network);
                }

                await SendAsync(FrameType.Done, frame.Session, []).ConfigureAwait(false);
                break;
            case FrameType.FilesRequest:
                StartFilesRequest(frame.Session, Payloads.Json(frame.Payload, InteractionJson.Default.FilesRequest));
                break;
            case FrameType.PeerHosts:
                var peers = Payloads.Json(frame.Payload, InteractionJson.Default.PeerHostsUpdate).PeerHosts;
                if (_spec is not null)
                {
                    RootFilesystem.ReplacePeerHosts(RootPath, _peerHosts, peers);
                    _peerHosts = peers;
                }

                await SendAsync(FrameType.Done, frame.Session, []).ConfigureAwait(false);
                break;
            case FrameType.Connect:
                Ports.Connect(frame.Session, Payloads.Json(frame.Payload, InteractionJson.Default.PortConnect), options.InVm ? ContainerAddress() : System.Net.IPAddress.Loopback);
                break;
            case FrameType.Data or FrameType.DataEnd or FrameType.Window or FrameType.Disconnect when Ports.Owns(frame.Session):
                Ports.Deliver(frame);
                break;
            case FrameType.Window or FrameType.Disconnect:
                // A relayed connection already over: the endpoint's frames of it were on their way.
                break;
            case FrameType.Data when _uploads.TryGetValue(frame.Session, out var upload):
                await upload.Writer.WriteAsync(frame).ConfigureAwait(false);
                break;
            case FrameType.DataEnd when _uploads.TryRemove(frame.Session, out var finished):
                await finished.Writer.WriteAsync(frame).ConfigureAwait(false);
                finished.Writer.Complete();
                break;
            case FrameType.Data or FrameType.DataEnd:
                // An upload the tether already ended (it refused an entry): the endpoint's frames of
                // it were on their way. Dropped: PID 1 must not die of a race.
                break;
            case FrameType.TopRequest:
                await SendAsync(FrameType.Top, frame.Session, Payloads.Json(GuestProcesses.List(RootPath, SessionPids(), options.InVm), InteractionJson.Default.ProcessList)).ConfigureAwait(false);
                break;
            case FrameType.Rehearse when _spec is null && options.InVm:
                await RehearseAsync(Payloads.Json(frame.Payload, InteractionJson.Default.ContainerSpec)).ConfigureAwait(false);
                await SendAsync(FrameType.Done, frame.Session, []).ConfigureAwait(false);
                break;
            case FrameType.Attach when _spec is null:
                // A (re)connected endpoint asks whether the tether is there: it waits for its spec.
                await SendAsync(FrameType.Hello, 0, Hello()).ConfigureAwait(false);
                break;
            case FrameType.Attach:
                ForgetEarlierEndpoint();
                var sessions = _sessions.Values.Select(s => new SessionState(s.Session, s.Pid, s.ExitCode))
                    .Concat(_exits.Where(e => !_sessions.ContainsKey(e.Key)).Select(e => new SessionState(e.Key, 0, e.Value)))
                    .ToList();
                await SendAsync(FrameType.State, 0, Payloads.Json(new StateReport(sessions) { Version = TetherProtocol.Version }, InteractionJson.Default.StateReport)).ConfigureAwait(false);
                break;
            case FrameType.PowerOff:
                foreach (var session in _sessions.Values)
                {
                    session.Signal(9);
                }

                PowerOff();
                return true;
            default:
                throw new ProtocolException($"the tether does not take {frame.Type} frames");
        }

        return false;
    }

    private static byte[] Hello() =>
        Payloads.Json(new HelloMessage(TetherProtocol.Version, Environment.OSVersion.VersionString, BootId, GuestClock.Executed(), GuestClock.Uptime()), InteractionJson.Default.HelloMessage);

    private static string BootId => File.Exists("/proc/sys/kernel/random/boot_id") ? File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim() : "";

    private GuestPortRelays Ports => _ports ??= new GuestPortRelays(_writer);

    /// <summary>Where a published port's connections go: the container's first bridge address, else its first port-group NIC's; null when it has neither.</summary>
    private System.Net.IPAddress? ContainerAddress()
    {
        var cidr = _network switch
        {
            { BridgeAddresses.Count: > 0 } n => n.BridgeAddresses[0],
            { Nics.Count: > 0 } n => n.Nics[0].Address,
            _ => null,
        };
        return cidr is null ? null : System.Net.IPAddress.Parse(cidr.Split('/')[0]);
    }

    private ProcessSession? Session(uint id) => _sessions.GetValueOrDefault(id);

    private string RootPath => _layout.Root;

    /// <summary>A restored clone's clock is its template's: set it to the endpoint's before anything runs.</summary>
    private static void SetWallClock(long? unixMs)
    {
        if (unixMs is not { } ms)
        {
            return;
        }

        var time = new Native.Timespec { Seconds = ms / 1000, Nanoseconds = ms % 1000 * 1_000_000 };
        if (Native.clock_settime(Native.ClockRealtime, time) != 0)
        {
            Console.Error.WriteLine($"tether: clock_settime: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    private async Task SendAsync(FrameType type, uint session, byte[] payload)
    {
        try
        {
            await _writer.WriteAsync(type, session, payload, CancellationToken.None).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // The endpoint is away (restarting); it asks for the state when it comes back.
        }
    }

    private void PowerOff()
    {
        if (!options.InVm)
        {
            if (options.ExitWithMain)
            {
                _writer.Dispose();
                Environment.Exit(0);
            }

            return;
        }

        PowerOffNow();
    }

    public static void PowerOffNow()
    {
        Native.sync();
        Native.reboot(Native.RbPowerOff);
    }

    /// <summary>Opens the channel: a character device in the VM (waiting a while for it to appear), a unix socket in host tests.</summary>
    public static async Task<Stream> OpenChannelAsync(string channel)
    {
        if (channel.StartsWith("unix:", StringComparison.Ordinal))
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(channel["unix:".Length..]));
            return new NetworkStream(socket, ownsSocket: true);
        }

        for (var i = 0; i < 500 && !File.Exists(channel); i++)
        {
            await Task.Delay(10).ConfigureAwait(false);
        }

        var file = new FileStream(channel, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
        if (!channel.StartsWith("/dev/tty", StringComparison.Ordinal))
        {
            return new PatientChannel(file, signalReconnects: true);
        }

        // A serial line holds what the endpoint sent before we opened it, perhaps cut: drop it all.
        // Our hello, sent next, is what the endpoint waits for before it sends anything that matters.
        Native.tcflush((int)file.SafeFileHandle.DangerousGetHandle(), 0);
        return new SerialLineStream(new PatientChannel(file));
    }
}
