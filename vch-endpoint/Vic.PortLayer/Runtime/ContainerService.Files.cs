using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>docker cp, diff, export and commit: the container's files, from its running VM or from one started just to serve them.</summary>
public sealed partial class ContainerService
{
    /// <summary>
    /// Runs <paramref name="work"/> against the container's files, from its running VM or from one
    /// started just to serve them (<see cref="FilesVms"/>). The container's state does not change.
    /// </summary>
    public Task<T> UseFilesAsync<T>(string idOrName, Func<ContainerFiles, Task<T>> work, CancellationToken cancellationToken) =>
        _files.UseAsync(idOrName, work, cancellationToken);

    /// <summary>
    /// A build's RUN: starts the (created, never started) container, and once its process has ended,
    /// and only if it exited 0, reads its writable layer into <paramref name="layer"/> from the same
    /// ContainerVM before that goes; so a step costs one ContainerVM, not a second one to read the
    /// layer. Returns the exit code.
    /// </summary>
    public async Task<int> RunBuildStepAsync(string idOrName, Stream layer, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        var exited = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var state = _runtime.Of(record.Id);
        if (!state.TryBeginBuildStep(exited))
        {
            throw PortLayerException.Conflict($"container {record.Id} is already running a build step");
        }

        try
        {
            var finished = WaitAsync(record.Id, WaitCondition.NextExit, CancellationToken.None);
            await StartAsync(record.Id, cancellationToken).ConfigureAwait(false);
            var code = await exited.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (state.Running is { } running)
            {
                try
                {
                    if (code == 0)
                    {
                        await new ContainerFiles(running, record.Id).CommitLayerAsync(layer, cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    await running.PowerOffQuietlyAsync().ConfigureAwait(false);
                }
            }
            else if (code == 0)
            {
                throw new PortLayerException(ErrorKind.System, $"the ContainerVM of build step {record.Id} went away before its layer was read");
            }

            await finished.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            return code;
        }
        finally
        {
            state.EndBuildStep();
        }
    }

    /// <summary>docker commit: the container's writable layer on top of its image's layers becomes a new image.</summary>
    public async Task<string> CommitAsync(string idOrName, CommitOptions options, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        var pause = options.Pause && record.Status is RunningStatus;
        if (pause)
        {
            await PauseAsync(record.Id, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            var layer = Path.Combine(_config.DataDirectory, "tmp", $"commit-{Guid.NewGuid():N}.tar");
            Directory.CreateDirectory(Path.GetDirectoryName(layer)!);
            try
            {
                await UseFilesAsync(record.Id, async files =>
                {
                    await using var output = File.Create(layer);
                    await files.CommitLayerAsync(output, cancellationToken).ConfigureAwait(false);
                    return true;
                }, cancellationToken).ConfigureAwait(false);

                await using var input = File.OpenRead(layer);
                var image = await _images.CommitAsync(record, input, options, cancellationToken).ConfigureAwait(false);
                _containers.Transition(record.Id, (_, s) => s, "commit", new Dictionary<string, string> { ["comment"] = options.Comment });
                return image.Id;
            }
            finally
            {
                File.Delete(layer);
            }
        }
        finally
        {
            // Only what this commit paused, and only if it still is: a process that ended meanwhile
            // leaves nothing to thaw, and the commit must not fail for it.
            if (pause && _containers.List().FirstOrDefault(c => c.Id == record.Id)?.Status is PausedStatus)
            {
                await UnpauseAsync(record.Id, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>What docker commit asks for besides the container.</summary>
public sealed record CommitOptions(string? Repository, string? Tag, string Comment, string Author, IReadOnlyList<string> Changes, bool Pause);
