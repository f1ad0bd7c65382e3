using Vic.Interaction;

namespace Vic.Tether;

/// <summary>The tether's processes: the main one and exec sessions started and reaped, a template's rehearsal, and file requests run beside the frame loop.</summary>
internal sealed partial class Tether
{
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

    private List<int> SessionPids() => [.. _sessions.Values.Select(s => s.Pid)];

    /// <param name="main">For the main process: the timings of its start so far, the clock they run on, and the steps since the root was made.</param>
    private void Start(uint id, IReadOnlyList<string> args, IReadOnlyList<string> env, string workingDir, UserIdentity user, bool tty, bool openStdin, ConfinementSpec? confinement, (StartTimings Timings, System.Diagnostics.Stopwatch Clock, StepClock Steps)? main = null)
    {
        if (args.Count == 0)
        {
            throw new InvalidOperationException("no command specified");
        }

        var environment = WithDefaults(env, user, tty);
        var plan = new LaunchPlan(args, environment, RootPath == "/" ? null : RootPath, workingDir, user, tty, openStdin, _spec?.Rows ?? 24, _spec?.Columns ?? 80)
        {
            Confinement = confinement,
            Cgroups = [.. new[] { _cgroup, _devicesCgroup }.OfType<string>()],
        };
        var session = ProcessSession.Start(id, plan, options.VicExec, _writer);
        main?.Steps.Mark("vic-exec spawned");
        _sessions[id] = session;
        _ = Task.Run(async () =>
        {
            // Started once the program runs, as dockerd's start answers once runc has executed it;
            // and always before Exit, even for a program that ends at once.
            var executed = await session.WaitForExecAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            main?.Steps.Mark("program executed");
            var timings = main is { } m ? m.Timings with { ProcessMs = m.Clock.Elapsed.TotalMilliseconds, ProcessSteps = m.Steps.ToString() } : null;
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

            if (id == Frame.MainSession && options.InVm && GuestStats.OomKills() > _oomKillsAtStart)
            {
                await SendAsync(FrameType.OomKilled, id, []).ConfigureAwait(false);
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
}
