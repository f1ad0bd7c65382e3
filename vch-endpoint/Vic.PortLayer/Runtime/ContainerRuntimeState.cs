using System.Collections.Concurrent;
using System.Threading.Channels;
using Vic.PortLayer.Compute;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// What the endpoint holds in memory for one container beside its stored record: its log, who waits
/// for its next exit or its removal, stdin queued for it, the gate that lets one ContainerVM at a time
/// run for it, the channel to the tether of the VM that runs it, its exec sessions, a restart by
/// policy in waiting and its back-off streak, and a build step's exit. Made on first use and disposed
/// by <see cref="ContainerRuntimeTable"/> when the container is forgotten, so nothing of a removed
/// container stays behind.
/// </summary>
internal sealed class ContainerRuntimeState : IDisposable
{
    private readonly Lazy<ContainerLog> _log;
    private RunningContainer? _running;
    private TaskCompletionSource<int> _nextExit = NewExit();
    private Channel<byte[]?>? _stdin;
    private PendingRestart? _pendingRestart;
    private TaskCompletionSource<int>? _buildStep;
    private readonly CancellationTokenSource _removal = new();
    private int _restartStreak;

    public ContainerRuntimeState(string id, Func<string, ContainerLog> openLog)
    {
        Id = id;
        _log = new Lazy<ContainerLog>(() => openLog(id), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string Id { get; }

    /// <summary>The container's output, on disk and to the clients following it.</summary>
    public ContainerLog Log => _log.Value;

    /// <summary>Set once, when the container is forgotten; its value is the last exit code.</summary>
    public TaskCompletionSource<int> Removed { get; } = NewExit();

    /// <summary>The next exit of the container's main process; a fresh one is armed at each exit.</summary>
    public Task<int> NextExit => Volatile.Read(ref _nextExit).Task;

    /// <summary>Cancelled when a removal of the container begins: a start waiting for its process stops waiting.</summary>
    public CancellationToken RemovalBegun => _removal.Token;

    /// <summary>A removal began: a start still waiting for its process gives up, and the removal ends its VM.</summary>
    public void SignalRemoval() => _removal.Cancel();

    /// <summary>One ContainerVM at a time per container: a start waits for a files VM to finish, and the other way round.</summary>
    public SemaphoreSlim VmGate { get; } = new(1, 1);

    /// <summary>The public NIC of the ContainerVM that runs the container (its address and gateway), if it has one.</summary>
    public PublicNic? PublicNic { get; set; }

    /// <summary>The peers' /etc/hosts lines its tether was last given; null when not known (after an endpoint restart).</summary>
    public IReadOnlyList<string>? PeerHosts { get; set; }

    /// <summary>The channel to the tether of the ContainerVM that runs the container; null while none does.</summary>
    public RunningContainer? Running
    {
        get => Volatile.Read(ref _running);
        set => Volatile.Write(ref _running, value);
    }

    /// <summary>The container's exec sessions by id, kept (as dockerd keeps them) until the container goes.</summary>
    public ConcurrentDictionary<string, ExecSession> Execs { get; } = new();

    /// <summary>Stdin written before or while the main process runs (docker run -i sends it at once), in order; null ends it.</summary>
    public Channel<byte[]?> Stdin => LazyInitializer.EnsureInitialized(ref _stdin, () => Channel.CreateUnbounded<byte[]?>());

    /// <summary>A restart by policy waiting for its back-off or starting; null when none is.</summary>
    public PendingRestart? PendingRestart => Volatile.Read(ref _pendingRestart);

    /// <summary>Set by a build's RUN while its ContainerVM runs: the process's exit, which does not end the VM.</summary>
    public TaskCompletionSource<int>? BuildStep => Volatile.Read(ref _buildStep);

    /// <summary>Lets go of <paramref name="running"/> if it is still the container's channel.</summary>
    public bool ClearRunning(RunningContainer running) => Interlocked.CompareExchange(ref _running, null, running) == running;

    /// <summary>Takes the container's channel, whichever it is.</summary>
    public RunningContainer? TakeRunning() => Interlocked.Exchange(ref _running, null);

    /// <summary>Ends the queued stdin: the next run gets a fresh queue.</summary>
    public void CloseStdin() => Interlocked.Exchange(ref _stdin, null)?.Writer.TryComplete();

    /// <summary>Answers everyone waiting for this exit and arms the next one.</summary>
    public void ReportExit(int code) => Interlocked.Exchange(ref _nextExit, NewExit()).TrySetResult(code);

    public void SetPendingRestart(PendingRestart pending) => Volatile.Write(ref _pendingRestart, pending);

    public void ClearPendingRestart(PendingRestart pending) => Interlocked.CompareExchange(ref _pendingRestart, null, pending);

    /// <summary>Docker's back-off streak: the n-th restart in a row of a container that ran under 10 s.</summary>
    public int NextRestartStreak(bool ranLong)
    {
        if (ranLong)
        {
            Volatile.Write(ref _restartStreak, 0);
            return 0;
        }

        return Interlocked.Increment(ref _restartStreak) - 1;
    }

    public bool TryBeginBuildStep(TaskCompletionSource<int> exited) => Interlocked.CompareExchange(ref _buildStep, exited, null) is null;

    public void EndBuildStep() => Volatile.Write(ref _buildStep, null);

    public void Dispose()
    {
        CloseStdin();
        foreach (var exec in Execs.Values.Where(e => e.Running))
        {
            // Output readers must not wait for a session whose container is gone.
            exec.Finish(137);
        }

        if (_log.IsValueCreated)
        {
            _log.Value.Dispose();
        }

        _removal.Dispose();
    }

    private static TaskCompletionSource<int> NewExit() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// The runtime state of every container the endpoint knows, made on first use and dropped in one
/// place (<see cref="Drop"/>, when a container is forgotten), with an index of exec sessions by id.
/// </summary>
/// <param name="exists">Whether the catalog still holds the container: state is made for no other.</param>
internal sealed class ContainerRuntimeTable(Func<string, ContainerLog> openLog, Func<string, bool> exists) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, ContainerRuntimeState> _states = new();
    private readonly ConcurrentDictionary<string, ExecSession> _execs = new();

    /// <summary>How many containers have runtime state: for the soak benchmark, which expects it flat.</summary>
    public int Count => _states.Count;

    /// <summary>How many exec sessions are indexed.</summary>
    public int ExecCount => _execs.Count;

    public IEnumerable<ContainerRuntimeState> All => _states.Values;

    /// <summary>The container's state, made if it has none yet.</summary>
    /// <remarks>
    /// Checked and made under the same lock <see cref="Drop"/> takes, after the catalog forgot the
    /// container: a call that races a removal either fails here or has its state dropped after it.
    /// </remarks>
    /// <exception cref="Errors.PortLayerException">The container is gone (404).</exception>
    public ContainerRuntimeState Of(string id)
    {
        if (_states.TryGetValue(id, out var state))
        {
            return state;
        }

        lock (_gate)
        {
            return exists(id)
                ? _states.GetOrAdd(id, key => new ContainerRuntimeState(key, openLog))
                : throw Errors.PortLayerException.NotFound($"No such container: {id}");
        }
    }

    /// <summary>The container's state if it has any: what code that must not bring a forgotten container back uses.</summary>
    public ContainerRuntimeState? Find(string id) => _states.GetValueOrDefault(id);

    public RunningContainer? RunningOf(string id) => Find(id)?.Running;

    public void AddExec(ExecSession exec)
    {
        Of(exec.ContainerId).Execs[exec.Id] = exec;
        _execs[exec.Id] = exec;
    }

    public ExecSession? FindExec(string execId) => _execs.GetValueOrDefault(execId);

    /// <summary>The container is gone: its waiters (for removal and for an exit that will not come now) learn it; its execs and log are let go.</summary>
    public void Drop(string id, int lastExitCode)
    {
        ContainerRuntimeState? state;
        lock (_gate)
        {
            if (!_states.TryRemove(id, out state))
            {
                return;
            }
        }

        foreach (var execId in state.Execs.Keys)
        {
            _execs.TryRemove(execId, out _);
        }

        state.Removed.TrySetResult(lastExitCode);
        state.ReportExit(lastExitCode);
        state.Dispose();
    }

    public void Dispose()
    {
        foreach (var state in _states.Values)
        {
            state.Dispose();
        }
    }
}
