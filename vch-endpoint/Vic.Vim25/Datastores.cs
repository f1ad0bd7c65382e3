using System.Net;
using static Vic.Vim25.Soap.VimXml;

namespace Vic.Vim25;

/// <summary>
/// Files on datastores: folders and deletes through the FileManager, virtual disks through the
/// VirtualDiskManager, and content over HTTP at <c>/folder/&lt;path&gt;?dcPath=&amp;dsName=</c> with the
/// session's cookie. Paths are datastore paths, <c>[datastore1] vch/images/disk.vmdk</c>.
/// </summary>
public static class Datastores
{
    public static string DatastorePath(string datastore, string path) => $"[{datastore}] {path}";

    public static Task MakeDirectoryAsync(this VimSession session, string datastorePath, ManagedObjectReference datacenter, CancellationToken cancellationToken) =>
        session.InvokeAsync("MakeDirectory", FileManager(session), [E("name", datastorePath), Ref("datacenter", datacenter), E("createParentDirectories", true)], cancellationToken);

    /// <summary>Deletes a file or a folder with everything in it.</summary>
    public static Task DeleteDatastoreFileAsync(this VimSession session, string datastorePath, ManagedObjectReference datacenter, CancellationToken cancellationToken) =>
        session.RunTaskAsync("DeleteDatastoreFile_Task", FileManager(session), [E("name", datastorePath), Ref("datacenter", datacenter)], cancellationToken);

    /// <summary>Makes an empty thin disk of <paramref name="capacityKb"/>.</summary>
    public static Task CreateVirtualDiskAsync(this VimSession session, string datastorePath, ManagedObjectReference datacenter, long capacityKb, CancellationToken cancellationToken) =>
        session.RunTaskAsync(
            "CreateVirtualDisk_Task",
            DiskManager(session),
            [E("name", datastorePath), Ref("datacenter", datacenter), Typed("spec", "FileBackedVirtualDiskSpec", E("diskType", "thin"), E("adapterType", "lsiLogic"), E("capacityKb", capacityKb))],
            cancellationToken);

    public static Task CopyVirtualDiskAsync(this VimSession session, string source, string destination, ManagedObjectReference datacenter, CancellationToken cancellationToken) =>
        session.RunTaskAsync(
            "CopyVirtualDisk_Task",
            DiskManager(session),
            [E("sourceName", source), Ref("sourceDatacenter", datacenter), E("destName", destination), Ref("destDatacenter", datacenter), E("force", false)],
            cancellationToken);

    public static Task DeleteVirtualDiskAsync(this VimSession session, string datastorePath, ManagedObjectReference datacenter, CancellationToken cancellationToken) =>
        session.RunTaskAsync("DeleteVirtualDisk_Task", DiskManager(session), [E("name", datastorePath), Ref("datacenter", datacenter)], cancellationToken);

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> on the datastore, replacing what is there.</summary>
    public static async Task UploadAsync(this VimSession session, string datacenterPath, string datastore, string path, Stream content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, FolderUri(session, datacenterPath, datastore, path)) { Content = new StreamContent(content) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        using var response = await session.Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new VimProtocolException($"upload of [{datastore}] {path} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        }
    }

    /// <summary>Reads a file from the datastore; null when it does not exist.</summary>
    public static async Task<byte[]?> DownloadAsync(this VimSession session, string datacenterPath, string datastore, string path, CancellationToken cancellationToken)
    {
        using var response = await session.Http.GetAsync(FolderUri(session, datacenterPath, datastore, path), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        return response.IsSuccessStatusCode
            ? await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false)
            : throw new VimProtocolException($"download of [{datastore}] {path} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
    }

    /// <summary>Whether a file exists on the datastore (a HEAD over <c>/folder</c>).</summary>
    public static async Task<bool> FileExistsAsync(this VimSession session, string datacenterPath, string datastore, string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, FolderUri(session, datacenterPath, datastore, path));
        using var response = await session.Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.NotFound ? false
            : response.IsSuccessStatusCode ? true
            : throw new VimProtocolException($"[{datastore}] {path}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
    }

    private static Uri FolderUri(VimSession session, string datacenterPath, string datastore, string path)
    {
        var escaped = string.Join('/', path.Split('/').Select(Uri.EscapeDataString));
        return new UriBuilder(session.Sdk) { Path = "/folder/" + escaped, Query = $"dcPath={Uri.EscapeDataString(datacenterPath)}&dsName={Uri.EscapeDataString(datastore)}" }.Uri;
    }

    private static ManagedObjectReference FileManager(VimSession session) =>
        session.Content.FileManager ?? throw new VimFaultException("NotSupported", "this endpoint has no FileManager");

    private static ManagedObjectReference DiskManager(VimSession session) =>
        session.Content.VirtualDiskManager ?? throw new VimFaultException("NotSupported", "this endpoint has no VirtualDiskManager");
}
