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
        var client = await NewestAsync(_connections.Reader, timeout, () => new TimeoutException($"the ContainerVM did not connect its serial port to port {Port} within {timeout.TotalSeconds:0} s"), cancellationToken).ConfigureAwait(false);
        client.NoDelay = true;
        return new SerialLineStream(client.GetStream());
    }

    /// <summary>
    /// The newest of the connections a VM made: waits for one, then drops all but the last still
    /// queued (a VM has one serial port; an older connection is one its VMX has given up on).
    /// </summary>
    internal static async Task<T> NewestAsync<T>(ChannelReader<T> connections, TimeSpan timeout, Func<Exception> timedOut, CancellationToken cancellationToken)
        where T : IDisposable
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        T connection;
        try
        {
            connection = await connections.ReadAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw timedOut();
        }

        while (connections.TryRead(out var newer))
        {
            connection.Dispose();
            connection = newer;
        }

        return connection;
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
