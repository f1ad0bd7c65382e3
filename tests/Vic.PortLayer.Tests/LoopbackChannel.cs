using System.Net;
using System.Net.Sockets;
using Vic.Interaction;

namespace Vic.PortLayer.Tests;

/// <summary>A tether channel on loopback sockets: the endpoint's end, and the guest's end the test plays.</summary>
internal sealed class LoopbackChannel : IDisposable
{
    private FrameReader? _reader;

    private LoopbackChannel(Stream host, TcpClient guest) => (Host, Guest) = (host, guest);

    /// <summary>The endpoint's end: what a backend's <c>OpenChannelAsync</c> returns.</summary>
    public Stream Host { get; }

    /// <summary>The guest's end.</summary>
    public TcpClient Guest { get; }

    public static async Task<LoopbackChannel> ConnectAsync(CancellationToken cancellationToken = default)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var host = new TcpClient();
        await host.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port, cancellationToken);
        var guest = await listener.AcceptTcpClientAsync(cancellationToken);
        return new LoopbackChannel(host.GetStream(), guest);
    }

    /// <summary>The next frame the endpoint sent to the guest.</summary>
    public async Task<Frame> GuestReadAsync() =>
        await (_reader ??= new FrameReader(Guest.GetStream())).ReadAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30))
            ?? throw new IOException("the host closed the channel");

    /// <summary>Ends the guest's side; the host's end belongs to whoever it was handed to.</summary>
    public void Dispose() => Guest.Dispose();
}
