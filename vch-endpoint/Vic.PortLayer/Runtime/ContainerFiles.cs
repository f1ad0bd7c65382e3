using Vic.Interaction;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// A container's files, served by the tether of its ContainerVM (the running one, or one started
/// just to serve files of a stopped container). Paths are the container's own.
/// </summary>
public sealed class ContainerFiles
{
    private readonly RunningContainer _running;
    private readonly string _name;

    internal ContainerFiles(RunningContainer running, string name)
    {
        _running = running;
        _name = name;
    }

    public async Task<ContainerPathStat> StatAsync(string path, CancellationToken cancellationToken)
    {
        var answer = await RequestAsync(new FilesRequest(FilesRequest.Stat, path), cancellationToken).ConfigureAwait(false);
        return ContainerPathStat.From(Payloads.Json(answer.Payload, InteractionJson.Default.PathStat));
    }

    public async Task<IReadOnlyList<ContainerChange>> ChangesAsync(CancellationToken cancellationToken)
    {
        var answer = await RequestAsync(new FilesRequest(FilesRequest.Changes), cancellationToken).ConfigureAwait(false);
        return [.. Payloads.Json(answer.Payload, InteractionJson.Default.ChangeList).Changes.Select(c => new ContainerChange(c.Path, (ChangeKind)c.Kind))];
    }

    /// <summary>The path as a tar, its top entry named after the path's last component.</summary>
    public Task GetAsync(string path, Stream destination, CancellationToken cancellationToken) =>
        DownloadAsync(new FilesRequest(FilesRequest.Get, path), destination, cancellationToken);

    /// <summary>The whole root filesystem as a tar.</summary>
    public Task ExportAsync(Stream destination, CancellationToken cancellationToken) =>
        DownloadAsync(new FilesRequest(FilesRequest.Export), destination, cancellationToken);

    /// <summary>The writable layer as an image layer tar (whiteouts as .wh. files).</summary>
    public Task CommitLayerAsync(Stream destination, CancellationToken cancellationToken) =>
        DownloadAsync(new FilesRequest(FilesRequest.Commit), destination, cancellationToken);

    /// <summary>Unpacks <paramref name="tar"/> into the directory at <paramref name="path"/>.</summary>
    public Task PutAsync(string path, Stream tar, bool noOverwriteDirNonDir, CancellationToken cancellationToken) =>
        PutAsync(new FilesRequest(FilesRequest.Put, path, noOverwriteDirNonDir), tar, cancellationToken);

    /// <summary>
    /// COPY's unpacking: into <paramref name="path"/>, made with its parents if missing, every entry
    /// owned by <paramref name="owner"/> (<c>user[:group]</c> of the container; empty for root).
    /// </summary>
    public Task CopyInAsync(string path, Stream tar, string owner, CancellationToken cancellationToken) =>
        PutAsync(new FilesRequest(FilesRequest.Put, path) { Owner = owner.Length == 0 ? null : owner, MakeParents = true }, tar, cancellationToken);

    private async Task PutAsync(FilesRequest request, Stream tar, CancellationToken cancellationToken)
    {
        var (id, frames) = _running.Tether.OpenStream();
        try
        {
            await _running.Writer.WriteAsync(FrameType.FilesRequest, id, Payloads.Json(request, InteractionJson.Default.FilesRequest), cancellationToken).ConfigureAwait(false);
            var upload = new DataWriteStream(_running.Writer, id);
            var answer = frames.ReadAsync(cancellationToken).AsTask();
            var buffer = new byte[FrameWriter.AtomicPayload];
            int read;
            while (!answer.IsCompleted && (read = await tar.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                await upload.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }

            if (!answer.IsCompleted)
            {
                await upload.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }

            var frame = await answer.ConfigureAwait(false);
            if (frame.Type == FrameType.Error)
            {
                throw Translate(Payloads.Text(frame.Payload));
            }
        }
        catch (System.Threading.Channels.ChannelClosedException ex)
        {
            throw new IOException(ex.InnerException?.Message ?? "the ContainerVM went away during a file transfer", ex);
        }
        finally
        {
            _running.Tether.CloseStream(id);
        }
    }

    private async Task<Frame> RequestAsync(FilesRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return await _running.RequestAsync(FrameType.FilesRequest, Payloads.Json(request, InteractionJson.Default.FilesRequest), cancellationToken).ConfigureAwait(false);
        }
        catch (Errors.PortLayerException ex) when (ex.Kind == Errors.ErrorKind.NotFound)
        {
            throw Errors.PortLayerException.NotFound($"{ex.Message} {_name}");
        }
    }

    private async Task DownloadAsync(FilesRequest request, Stream destination, CancellationToken cancellationToken)
    {
        var (id, frames) = _running.Tether.OpenStream();
        try
        {
            await _running.Writer.WriteAsync(FrameType.FilesRequest, id, Payloads.Json(request, InteractionJson.Default.FilesRequest), cancellationToken).ConfigureAwait(false);
            await using var tar = new DataReadStream(frames);
            await tar.CopyToAsync(destination, cancellationToken).ConfigureAwait(false);
        }
        catch (PeerErrorException ex)
        {
            throw Translate(ex.Message);
        }
        finally
        {
            _running.Tether.CloseStream(id);
        }
    }

    private Errors.PortLayerException Translate(string text)
    {
        var error = RunningContainer.GuestError(text);
        return error.Kind == Errors.ErrorKind.NotFound ? Errors.PortLayerException.NotFound($"{error.Message} {_name}") : error;
    }
}
