using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Vic.Interaction;

namespace Vic.Backends.Vsphere.Vspc;

/// <summary>
/// The VCH's virtual serial port concentrator (vSPC): the proxy VMs' serial ports name as their
/// <c>proxyURI</c>. Every instant clone of the VCH's parent keeps the parent's serial port
/// (InstantClone_Task may not change a network-backed one), so all of them connect here; each
/// VMX says which VM it speaks for, and the connection waits under that VM's instance UUID for
/// the endpoint to open the VM's channel. As with a VM's own port, the newest connection wins.
/// </summary>
internal sealed class VspcListener : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly string _serviceUri;
    private readonly TimeSpan _handshakeTimeout;
    private readonly ConcurrentDictionary<string, Channel<VspcSession>> _byVm = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly HashSet<Task> _handshakes = [];

    /// <param name="serviceUri">The service URI the VMs' serial ports carry: a VMX asking for another is refused.</param>
    public VspcListener(IPAddress address, int port, string serviceUri, TimeSpan handshakeTimeout)
    {
        _serviceUri = serviceUri;
        _handshakeTimeout = handshakeTimeout;
        _listener = new TcpListener(address, port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>The next connection of the VM with this instance UUID; older ones still queued are dropped.</summary>
    public async Task<Stream> OpenAsync(string instanceUuid, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var queue = QueueOf(VspcSession.NormalizeUuid(instanceUuid));
        var session = await ChannelListener.NewestAsync(queue.Reader, timeout, () => new TimeoutException($"no VMX connected the serial port of VM {instanceUuid} to the vSPC on port {Port} within {timeout.TotalSeconds:0} s"), cancellationToken).ConfigureAwait(false);
        return new SerialLineStream(session);
    }

    /// <summary>Drops what waits for a VM that is gone.</summary>
    public void Forget(string instanceUuid)
    {
        if (_byVm.TryRemove(VspcSession.NormalizeUuid(instanceUuid), out var queue))
        {
            while (queue.Reader.TryRead(out var session))
            {
                session.Dispose();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _accepting.ConfigureAwait(false);
        Task[] handshakes;
        lock (_handshakes)
        {
            handshakes = [.. _handshakes];
        }

        await Task.WhenAll(handshakes).ConfigureAwait(false);
        foreach (var uuid in _byVm.Keys)
        {
            Forget(uuid);
        }

        _stop.Dispose();
    }

    private Channel<VspcSession> QueueOf(string uuid) => _byVm.GetOrAdd(uuid, _ => Channel.CreateUnbounded<VspcSession>());

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            var handshake = Task.Run(() => HandshakeAsync(client));
            lock (_handshakes)
            {
                _handshakes.Add(handshake);
            }

            _ = handshake.ContinueWith(
                done =>
                {
                    lock (_handshakes)
                    {
                        _handshakes.Remove(done);
                    }
                },
                TaskScheduler.Default);
        }
    }

    /// <summary>A VMX that does not say who it is in time, or asks for another service, is hung up on.</summary>
    private async Task HandshakeAsync(TcpClient client)
    {
        client.NoDelay = true;
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            limit.CancelAfter(_handshakeTimeout);
            var session = await VspcSession.AcceptAsync(client.GetStream(), uri => uri == _serviceUri, limit.Token).ConfigureAwait(false);
            if (_stop.IsCancellationRequested || !QueueOf(session.VmUuid).Writer.TryWrite(session))
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            client.Dispose();
        }
    }
}
