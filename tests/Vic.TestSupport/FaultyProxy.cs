using System.Net;
using System.Net.Sockets;

namespace Vic.TestSupport;

/// <summary>
/// A TCP proxy in front of a real peer that breaks connections on purpose: it cuts the first
/// <see cref="ConnectionsToCut"/> connections that carry more than <see cref="CutAfterBytes"/>
/// bytes back to the client, as a registry that drops mid-pull does.
/// </summary>
public sealed class FaultyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _cuts;

    public FaultyProxy(int targetPort)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Host => $"127.0.0.1:{Port}";

    public long CutAfterBytes { get; set; } = long.MaxValue;

    public int ConnectionsToCut { get; set; }

    /// <summary>Runs at each cut, before the connection closes: e.g. kill the peer behind the proxy.</summary>
    public Func<Task>? OnCut { get; set; }

    /// <summary>How many connections were cut so far.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

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
        catch (SocketException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
                var upstream = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
                await CopyWithFaultAsync(server.GetStream(), client.GetStream()).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
                // A broken relay is what this class is for.
            }
        }
    }

    private async Task CopyWithFaultAsync(Stream from, Stream to)
    {
        var buffer = new byte[16384];
        long sent = 0;
        while (true)
        {
            var read = await from.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }

            if (sent + read > CutAfterBytes && Volatile.Read(ref _cuts) < ConnectionsToCut && Interlocked.Increment(ref _cuts) <= ConnectionsToCut)
            {
                await to.WriteAsync(buffer.AsMemory(0, (int)(CutAfterBytes - sent)), _stop.Token).ConfigureAwait(false);
                if (OnCut is { } onCut)
                {
                    await onCut().ConfigureAwait(false);
                }

                return;
            }

            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
            sent += read;
        }
    }
}
