using Vic.Interaction;

namespace Vic.PortLayer.Runtime;

/// <summary>docker exec, by <see cref="ExecSessions"/>; the main process's TTY resize.</summary>
public sealed partial class ContainerService
{
    /// <summary>Prepares a <c>docker exec</c> in a running container; it runs when started.</summary>
    public ExecSession CreateExec(string idOrName, ExecOptions options) => _execs.Create(idOrName, options);

    public ExecSession Exec(string execId) => _execs.Find(execId);

    /// <inheritdoc cref="ExecSessions.Startable"/>
    public ExecSession StartableExec(string execId) => _execs.Startable(execId);

    /// <inheritdoc cref="ExecSessions.StartAsync"/>
    public Task StartExecAsync(string execId, bool detached, CancellationToken cancellationToken) => _execs.StartAsync(execId, detached, cancellationToken);

    public Task ResizeExecAsync(string execId, int rows, int columns, CancellationToken cancellationToken) => _execs.ResizeAsync(execId, rows, columns, cancellationToken);

    public async Task ResizeAsync(string idOrName, int rows, int columns, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        if (_runtime.RunningOf(record.Id) is { } running)
        {
            await running.Writer.WriteAsync(FrameType.Resize, 0, Payloads.Size(rows, columns), cancellationToken).ConfigureAwait(false);
        }
    }
}
