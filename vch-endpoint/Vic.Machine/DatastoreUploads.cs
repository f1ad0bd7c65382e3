using Vic.Vim25;

namespace Vic.Machine;

/// <summary>The files vic-machine puts on a datastore (the ISOs), each with its progress shown.</summary>
public static class DatastoreUploads
{
    /// <summary>Uploads a local file to <c>[datastore] folder/name</c>, with a bar, and says so when done.</summary>
    public static async Task UploadFileAsync(this VimSession session, MachineProgress progress, string datacenterPath, string datastore, string file, string folder, string name, CancellationToken cancellationToken)
    {
        var size = new FileInfo(file).Length;
        await progress.TrackAsync($"uploading {name} to [{datastore}] {folder}", size, async report =>
        {
            await using var content = new ProgressStream(File.OpenRead(file), report);
            await session.UploadAsync(datacenterPath, datastore, $"{folder}/{name}", content, cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        progress.Step($"uploaded {file} ({size >> 20} MiB)");
    }
}
