using Vic.Interaction;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Vic.Backends.Vsphere;

/// <summary>
/// The endpoint's end of one ContainerVM's channel: the VM's serial port is backed by the network
/// URI <c>tcp://endpoint:port</c> as a client, so the VM connects here whenever it powers on. The
/// newest connection is the channel; one the VM made before anyone asked waits for the asker.
/// </summary>
internal sealed class ChannelListener : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Channel<TcpClient> _connections = Channel.CreateUnbounded<TcpClient>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public ChannelListener(IPAddress address, int port)
    {
        _listener = new TcpListener(address, port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>The next connection of the VM; older ones still queued are dropped (a VM has one serial port).</summary>
    public async Task<Stream> OpenAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        TcpClient client;
        try
        {
            client = await _connections.Reader.ReadAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the ContainerVM did not connect its serial port to port {Port} within {timeout.TotalSeconds:0} s");
        }

        while (_connections.Reader.TryRead(out var newer))
        {
            client.Dispose();
            client = newer;
        }

        client.NoDelay = true;
        return new SerialLineStream(client.GetStream());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try
        {
            await _accepting.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        while (_connections.Reader.TryRead(out var client))
        {
            client.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
                await _connections.Writer.WriteAsync(client, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
        }
    }
}
