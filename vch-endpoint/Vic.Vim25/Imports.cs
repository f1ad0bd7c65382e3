using System.Net.Http.Headers;
using static Vic.Vim25.Soap.VimXml;

namespace Vic.Vim25;

/// <summary>
/// Disk import the way OVF deployment does it: <c>ImportVApp</c> makes a VM whose disks are to be
/// written, an <c>HttpNfcLease</c> hands out one upload URL per disk, the disk is sent as a
/// streamOptimized VMDK (which the host converts to its own format), and the lease is completed.
/// </summary>
public static class Imports
{
    /// <summary>Starts an import of a VM described by <paramref name="config"/>; returns its lease once ready.</summary>
    public static async Task<ImportLease> ImportVAppAsync(this VimSession session, ManagedObjectReference pool, ManagedObjectReference folder, VmConfigSpec config, CancellationToken cancellationToken)
    {
        var lease = await session.InvokeAsync(
            "ImportVApp",
            pool,
            [Typed("spec", "VirtualMachineImportSpec", config.ToXml("configSpec")), Ref("folder", folder)],
            ToRef,
            cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; ; attempt++)
        {
            var content = await session.RetrieveOneAsync(lease, ["state", "info", "error"], cancellationToken).ConfigureAwait(false);
            switch (content.Text("state"))
            {
                case "ready":
                    var info = content.Properties["info"];
                    return new ImportLease(
                        lease,
                        info.ChildRef("entity") ?? throw new VimProtocolException("the import lease names no VM"),
                        [.. info.Children("deviceUrl").Select(d => new ImportDeviceUrl(d.ChildText("importKey") ?? "", d.ChildText("url") ?? "", d.ChildText("disk") == "true"))]);
                case "error":
                    // The lease's error is a LocalizedMethodFault, as a task's is.
                    throw content.Properties.TryGetValue("error", out var error) ? Soap.SoapEnvelope.TaskFaultOf(error) : new VimFaultException("SystemError", "the import failed");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 * (attempt + 1))), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends a streamOptimized VMDK to one of the lease's URLs.</summary>
    public static async Task UploadStreamOptimizedAsync(this VimSession session, ImportDeviceUrl device, Stream vmdk, CancellationToken cancellationToken)
    {
        // The lease names the host as "*" when it is the one the session talks to.
        var url = new Uri(device.Url.Replace("://*", "://" + session.Sdk.Authority, StringComparison.Ordinal));
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StreamContent(vmdk) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-vnd.vmware-streamVmdk");
        request.Headers.TransferEncodingChunked = !vmdk.CanSeek;
        using var response = await session.Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new VimProtocolException($"upload of disk {device.ImportKey} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        }
    }

    public static Task CompleteAsync(this VimSession session, ImportLease lease, CancellationToken cancellationToken) =>
        session.InvokeAsync("HttpNfcLeaseComplete", lease.Lease, [], cancellationToken);

    public static Task AbortAsync(this VimSession session, ImportLease lease, CancellationToken cancellationToken) =>
        session.InvokeAsync("HttpNfcLeaseAbort", lease.Lease, [], cancellationToken);

    /// <summary>Removes a VM from the inventory and leaves its files (its disks) on the datastore.</summary>
    public static Task UnregisterVmAsync(this VimSession session, ManagedObjectReference vm, CancellationToken cancellationToken) =>
        session.InvokeAsync("UnregisterVM", vm, [], cancellationToken);
}

/// <summary>A ready import: the lease, the VM being made, and where each of its files is sent.</summary>
public sealed record ImportLease(ManagedObjectReference Lease, ManagedObjectReference Vm, IReadOnlyList<ImportDeviceUrl> Devices);

public sealed record ImportDeviceUrl(string ImportKey, string Url, bool IsDisk);
