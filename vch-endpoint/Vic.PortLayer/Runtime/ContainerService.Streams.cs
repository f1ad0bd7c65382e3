using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>wait, attach and logs: what clients read of a container, and the stdin they send it.</summary>
public sealed partial class ContainerService
{
    /// <summary>Waits for the condition; returns the exit code docker prints.</summary>
    public async Task<int> WaitAsync(string idOrName, WaitCondition condition, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        var state = _runtime.Of(record.Id);
        if (condition == WaitCondition.NotRunning && !record.Status.IsRunning)
        {
            return record.Status.ExitCode;
        }

        var exit = condition == WaitCondition.Removed ? state.Removed.Task : state.NextExit;
        return await exit.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// What inspect shows of a container's processes: the guest pid of its main process while it
    /// runs (vic-exec, which plays the part runc's init does), else 0, and its exec sessions' ids.
    /// </summary>
    public (int Pid, IReadOnlyList<string> ExecIds) ProcessesOf(string id)
    {
        var state = _runtime.Find(id);
        var pid = state?.Running is { } running && running.MainStarted.Task.IsCompletedSuccessfully ? running.MainStarted.Task.Result : 0;
        return (pid, state is null ? [] : [.. state.Execs.Keys]);
    }

    /// <summary>Attaches to a container's live output (and stdin); allowed before start, as docker run does.</summary>
    public AttachedStreams Attach(string idOrName)
    {
        var record = _containers.Transition(idOrName, (_, s) => s, "attach");
        // Stdin may come before the start (docker run -i sends it at once): it waits in a queue.
        var state = _runtime.Of(record.Id);
        var stdin = state.Stdin;
        return new AttachedStreams(
            state.Log.Subscribe(),
            record.Config.Tty,
            data => stdin.Writer.WriteAsync(data.ToArray()).AsTask(),
            () => record.Config.StdinOnce || !record.Config.Tty ? stdin.Writer.WriteAsync(null).AsTask() : Task.CompletedTask);
    }

    /// <summary>The log so far and, while the container runs, its live continuation.</summary>
    public (IReadOnlyList<OutputChunk> History, System.Threading.Channels.ChannelReader<OutputChunk>? Live) Logs(string idOrName, bool follow)
    {
        var record = _containers.Resolve(idOrName);
        if (!record.Config.Log.Readable)
        {
            // dockerd's answer (501) for a driver that keeps nothing.
            throw PortLayerException.NotImplemented("configured logging driver does not support reading");
        }

        var log = _runtime.Of(record.Id).Log;
        var live = follow && record.Status.IsRunning ? log.Subscribe() : null;
        return ([.. log.ReadAll()], live);
    }
}
