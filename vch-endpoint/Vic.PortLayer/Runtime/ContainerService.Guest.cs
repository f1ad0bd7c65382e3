using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>The operations answered by the tether inside the running ContainerVM: pause, unpause, top, stats.</summary>
public sealed partial class ContainerService
{
    /// <summary>Freezes every process of the container; the ContainerVM itself keeps running, so stats still answer.</summary>
    public async Task PauseAsync(string idOrName, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        record.Status.Pause(record.Ref);
        await RunningOf(record).RequestAsync(FrameType.Pause, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        _containers.Transition(record.Id, (who, s) => s.Pause(who), "pause");
    }

    public async Task UnpauseAsync(string idOrName, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        record.Status.Unpause(record.Ref);
        await RunningOf(record).RequestAsync(FrameType.Unpause, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        _containers.Transition(record.Id, (who, s) => s.Unpause(who), "unpause");
    }

    /// <summary>The container's processes, as the guest's /proc shows them.</summary>
    public async Task<IReadOnlyList<ContainerProcess>> TopAsync(string idOrName, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        var answer = await RunningOf(record).RequestAsync(FrameType.TopRequest, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        _containers.Transition(record.Id, (_, s) => s, "top");
        return ContainerProcess.From(Payloads.Json(answer.Payload, InteractionJson.Default.ProcessList));
    }

    /// <summary>One sample of the guest's figures; null when the container is not running (docker shows zeros).</summary>
    public async Task<ContainerStats?> StatsAsync(string idOrName, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        if (_runtime.RunningOf(record.Id) is not { } running)
        {
            return null;
        }

        try
        {
            var answer = await running.RequestAsync(FrameType.StatsRequest, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            return ContainerStats.From(Payloads.Json(answer.Payload, InteractionJson.Default.StatsReport), _time.GetUtcNow(), Math.Max(1, record.Config.Cpus));
        }
        catch (PortLayerException ex) when (ex.Kind == ErrorKind.Conflict)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private RunningContainer RunningOf(ContainerRecord record) =>
        record.Status.IsRunning && _runtime.RunningOf(record.Id) is { } running
            ? running
            : throw PortLayerException.Conflict($"Container {record.Id} is not running");
}
