using System.Net;
using System.Net.Sockets;
using Vic.Nfs;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Volumes;

/// <summary>
/// A volume's folder on an NFS store, made and removed by the endpoint over NFSv4 itself: the
/// endpoint's host need not be able to mount NFS, only the ContainerVMs do.
/// </summary>
internal static class NfsVolumes
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    public static void Create(NfsLocation store, string name) =>
        Run(store, $"create volume {name}", client => client.MakeDirectoriesAsync(store.VolumePath(name), 0x1ED, CancellationToken.None));

    public static void Remove(NfsLocation store, string name) =>
        Run(store, $"remove volume {name}", client => client.RemoveTreeAsync(store.VolumePath(name), CancellationToken.None));

    /// <summary>The server's IPv4 address: the guest kernel mounts by address only.</summary>
    public static IPAddress AddressOf(NfsLocation store) =>
        IPAddress.TryParse(store.Host, out var address) ? address
        : Dns.GetHostAddresses(store.Host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
            ?? throw new PortLayerException(ErrorKind.System, $"volume store host {store.Host} has no IPv4 address");

    // Volume calls are synchronous in the port layer (they run under its lock); these are short.
    private static void Run(NfsLocation store, string what, Func<NfsClient, Task> action)
    {
        try
        {
            Task.Run(async () =>
            {
                using var limit = new CancellationTokenSource(Limit);
                await using var client = await NfsClient.ConnectAsync(AddressOf(store), store.Port, limit.Token, store.Uid, store.Gid).ConfigureAwait(false);
                await action(client).WaitAsync(limit.Token).ConfigureAwait(false);
            }).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
            throw new PortLayerException(ErrorKind.System, $"{what}: the NFS volume store nfs://{store.Host}:{store.Port}{store.Path} failed: {ex.Message}");
        }
    }
}
