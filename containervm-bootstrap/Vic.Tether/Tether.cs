using System.Collections.Concurrent;
using System.Net.Sockets;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// The tether's conversation with the endpoint: says hello, waits for the spec (an instant-clone
/// template is frozen right here), makes the root, runs the main process and exec sessions, relays
/// stdio, signals and resizes, reports exits, and powers the VM off when the container ends.
/// </summary>
internal sealed class Tether(TetherOptions options, Stream channel) : IDisposable
{
    private FrameReader _reader = new(channel);
    private readonly FrameWriter _writer = new(channel);
    private readonly ConcurrentDictionary<uint, ProcessSession> _sessions = new();
    private readonly ConcurrentDictionary<uint, int> _exits = new();
    private readonly ConcurrentDictionary<uint, System.Threading.Channels.Channel<Frame>> _uploads = new();
    private ContainerSpec? _spec;
    private RootLayout _layout = new("/", null, []);
    private UserIdentity _user = UserIdentity.Root;
    private string? _cgroup;
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

                if (options.InVm)
                {
                    GuestConfinement.ApplySysctls(_spec.Sysctls);
                    _cgroup = GuestConfinement.PidsCgroup(_spec.Confinement?.PidsLimit ?? 0);
                }

                _user = UserResolver.WithGroups(UserResolver.Resolve(_spec.User, RootPath), _spec.GroupAdd, RootPath);
                var timings = new StartTimings(networkMs, networkMs + _layout.DiskWait.TotalMilliseconds, steps.Elapsed.TotalMilliseconds, 0, _layout.Steps);
                Start(Frame.MainSession, _spec.Args, _spec.Env, _spec.WorkingDir, _user, _spec.Tty, _spec.OpenStdin, _spec.Confinement, (timings, steps));
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

    /// <summary>
    /// What a template does before it is saved (<see cref="FrameType.Rehearse"/>): the path every start
    /// takes, once, without disks (a root of tmpfs under an overlay, and vic-exec run through vic-exec,
    /// which prints its usage and exits), tidied away. What the template ran (the runtime's first-time
    /// initialisations, the spec's JSON metadata, the kernel's first overlay and tmpfs mounts and their
    /// caches) no clone runs again.
    /// </summary>
    private async Task RehearseAsync(ContainerSpec spec)
    {
        GuestEntropy.Seed(spec.EntropySeed);

        // A ready clone rehearses with NICs (a template must not: a clone without a network keeps
        // them down): they come up now, and a start only readdresses them.
        if (spec.Network is { } network)
        {
            GuestNetwork.Apply(network);
        }

        var layout = RootFilesystem.Rehearse(spec);
        try
        {
            var user = UserResolver.Resolve(spec.User, layout.Root);
            Start(Frame.RehearsalSession, [options.VicExec], spec.Env, spec.WorkingDir, user, spec.Tty, spec.OpenStdin, confinement: null);
            for (var i = 0; i < 1000 && !_exits.ContainsKey(Frame.RehearsalSession); i++)
            {
                await Task.Delay(10).ConfigureAwait(false);
            }
        }
        finally
        {
            _exits.TryRemove(Frame.RehearsalSession, out _);
            RootFilesystem.TidyRehearsal();
        }

        // Clones start with the garbage of the rehearsal collected and a whole allocation budget:
        // a start that allocates past it pays a first collection, all of its code translated afresh.
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
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

    /// <summary>Runs a file request beside the frame loop, which keeps feeding uploads and serving everything else.</summary>
    private void StartFilesRequest(uint session, FilesRequest request)
    {
        System.Threading.Channels.Channel<Frame>? upload = null;
        if (request.Operation == FilesRequest.Put)
        {
            upload = System.Threading.Channels.Channel.CreateUnbounded<Frame>();
            _uploads[session] = upload;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                switch (request.Operation)
                {
                    case FilesRequest.Stat:
                        await SendAsync(FrameType.Done, session, Payloads.Json(GuestFiles.Stat(_layout, request.Path), InteractionJson.Default.PathStat)).ConfigureAwait(false);
                        break;
                    case FilesRequest.Changes:
                        await SendAsync(FrameType.Done, session, Payloads.Json(GuestFiles.Changes(_layout), InteractionJson.Default.ChangeList)).ConfigureAwait(false);
                        break;
                    case FilesRequest.Put:
                        using (var input = new DataReadStream(upload!.Reader))
                        {
                            GuestFiles.Put(_layout, request, input);
                        }

                        Native.sync();
                        await SendAsync(FrameType.Done, session, []).ConfigureAwait(false);
                        break;
                    case FilesRequest.Get or FilesRequest.Export or FilesRequest.Commit:
                        var output = new DataWriteStream(_writer, session);
                        Action<RootLayout, Stream> write = request.Operation switch
                        {
                            FilesRequest.Get => (layout, stream) => GuestFiles.Get(layout, request.Path, stream),
                            FilesRequest.Export => GuestFiles.Export,
                            _ => GuestFiles.Commit,
                        };
                        write(_layout, output);
                        await output.CompleteAsync(CancellationToken.None).ConfigureAwait(false);
                        break;
                    default:
                        throw new InvalidOperationException($"unknown file operation {request.Operation}");
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _uploads.TryRemove(session, out _);
                // EROFS (30), which .NET gives as the IOException's HResult: dockerd's words for it, as bad input.
                var readOnly = ex is IOException { HResult: 30 };
                var kind = ex switch
                {
                    FileNotFoundException or DirectoryNotFoundException => "notfound: ",
                    InvalidOperationException or InvalidDataException or FormatException => "invalid: ",
                    _ when readOnly => "invalid: ",
                    _ => "",
                };
                var message = !readOnly ? ex.Message
                    : _spec?.ReadOnlyRoot == true ? "container rootfs is marked read-only"
                    : "mounted volume is marked read-only";
                await SendAsync(FrameType.Error, session, Payloads.Text(kind + message)).ConfigureAwait(false);
            }
        });
    }

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

    private List<int> SessionPids() => [.. _sessions.Values.Select(s => s.Pid)];

    /// <param name="main">For the main process: the timings of its start so far and the clock they run on.</param>
    private void Start(uint id, IReadOnlyList<string> args, IReadOnlyList<string> env, string workingDir, UserIdentity user, bool tty, bool openStdin, ConfinementSpec? confinement, (StartTimings Timings, System.Diagnostics.Stopwatch Clock)? main = null)
    {
        if (args.Count == 0)
        {
            throw new InvalidOperationException("no command specified");
        }

        var environment = WithDefaults(env, user, tty);
        var plan = new LaunchPlan(args, environment, RootPath == "/" ? null : RootPath, workingDir, user, tty, openStdin, _spec?.Rows ?? 24, _spec?.Columns ?? 80)
        {
            Confinement = confinement,
            Cgroup = _cgroup,
        };
        var session = ProcessSession.Start(id, plan, options.VicExec, _writer);
        _sessions[id] = session;
        _ = Task.Run(async () =>
        {
            // Started once the program runs, as dockerd's start answers once runc has executed it;
            // and always before Exit, even for a program that ends at once.
            var executed = await session.WaitForExecAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            var timings = main is { } m ? m.Timings with { ProcessMs = m.Clock.Elapsed.TotalMilliseconds } : null;
            await SendAsync(FrameType.Started, id, Payloads.Json(new StartedMessage(session.Pid, timings), InteractionJson.Default.StartedMessage)).ConfigureAwait(false);
            var code = await session.WaitAsync().ConfigureAwait(false);
            if (!executed && id != Frame.MainSession)
            {
                // dockerd's exit code for an exec whose process did not start, whatever the reason
                // (its start error sets 127 or 126, then its clean-up sets 126 over it).
                code = 126;
            }

            _exits[id] = code;
            _sessions.TryRemove(id, out _);
            session.Dispose();
            if (id == Frame.MainSession && options.InVm)
            {
                // What the container wrote must be on its scratch disk before anyone hears it ended:
                // the next docker command may replace this VM at once.
                Native.sync();
            }

            await SendAsync(FrameType.Exit, id, Payloads.Int32(code)).ConfigureAwait(false);
            if (id == Frame.MainSession && (options.InVm || options.ExitWithMain) && _spec?.KeepAfterExit != true)
            {
                // The container is its main process: when it ends, so does the VM.
                foreach (var other in _sessions.Values)
                {
                    other.Signal(9);
                }

                PowerOff();
            }
        });
    }

    private IReadOnlyList<string> WithDefaults(IReadOnlyList<string> env, UserIdentity user, bool tty)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in env)
        {
            var eq = variable.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                variables[variable[..eq]] = variable[(eq + 1)..];
            }
        }

        variables.TryAdd("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        variables.TryAdd("HOSTNAME", _spec is { Hostname.Length: > 0 } s ? s.Hostname : _spec?.Id[..Math.Min(12, _spec.Id.Length)] ?? "");
        variables.TryAdd("HOME", user.Home);
        if (tty)
        {
            variables.TryAdd("TERM", "xterm");
        }

        return [.. variables.Select(v => $"{v.Key}={v.Value}")];
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
