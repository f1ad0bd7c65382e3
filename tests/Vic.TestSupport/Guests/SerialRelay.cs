using System.Net.Sockets;

namespace Vic.TestSupport;

/// <summary>
/// The VMX's part in a network-backed serial port: the guest's side of the line is a Unix socket
/// (the tether's channel, or QEMU's COM1) and the network side is what <paramref name="connect"/>
/// opens, connected again and again whenever the endpoint goes away. Bytes from the guest wait
/// while there is no connection, as they do in a guest's serial buffer. Nothing is connected before
/// <c>running</c> completes: bytes a restoring VM's UART took would be lost under its restored state.
/// </summary>
internal sealed class SerialRelay : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<CancellationToken, Task<Stream>> _connect;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _relay;
    private Stream? _network;

    private readonly Task _running;

    public SerialRelay(string path, Func<CancellationToken, Task<Stream>> connect, Task? running = null)
    {
        _running = running ?? Task.CompletedTask;
        _connect = connect;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(1);
        _relay = Task.Run(RelayAsync);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        _network?.Dispose();
        try
        {
            await _relay.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task RelayAsync()
    {
        using var guest = new NetworkStream(await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false), ownsSocket: true);
        var fromNetwork = Task.Run(() => NetworkToGuestAsync(guest));
        var buffer = new byte[32 * 1024];
        while (!_stop.IsCancellationRequested)
        {
            var read = await guest.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            while (true)
            {
                var network = await CurrentAsync().ConfigureAwait(false);
                try
                {
                    await network.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
                    break;
                }
                catch (IOException)
                {
                    await Task.Delay(50, _stop.Token).ConfigureAwait(false);
                }
            }
        }

        await fromNetwork.ConfigureAwait(false);
    }

    /// <summary>Connects (again and again) to the network side and copies what it sends to the guest.</summary>
    private async Task NetworkToGuestAsync(NetworkStream guest)
    {
        var buffer = new byte[32 * 1024];
        await _running.WaitAsync(_stop.Token).ConfigureAwait(false);
        while (!_stop.IsCancellationRequested)
        {
            Stream network;
            try
            {
                network = await _connect(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                await Task.Delay(100, _stop.Token).ConfigureAwait(false);
                continue;
            }

            _network = network;
            try
            {
                int read;
                while ((read = await network.ReadAsync(buffer, _stop.Token).ConfigureAwait(false)) > 0)
                {
                    await guest.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
                }
            }
            catch (IOException)
            {
            }

            // The endpoint went away: no connection until the next one is made.
            _network = null;
            await network.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<Stream> CurrentAsync()
    {
        while (true)
        {
            if (_network is { } network)
            {
                return network;
            }

            await Task.Delay(20, _stop.Token).ConfigureAwait(false);
        }
    }
}
