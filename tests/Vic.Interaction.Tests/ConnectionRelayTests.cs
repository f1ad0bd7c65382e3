using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Vic.Interaction;

namespace Vic.Interaction.Tests;

/// <summary>
/// A published port's connection relayed over a channel: the endpoint's relay with the client's
/// socket at one end of a loopback channel, the guest's relay with the server's at the other, as the
/// port layer and the tether run them.
/// </summary>
public sealed class ConnectionRelayTests : IAsyncDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private const uint Session = Frame.FirstRequest + 7;
    private readonly List<IDisposable> _owned = [];

    [Fact]
    public async Task BytesGoBothWaysAndEachHalfCloseReachesTheOtherSide()
    {
        var (endpoint, guest) = await ChannelAsync();
        var (client, clientEnd) = await SocketPairAsync();
        var (server, serverEnd) = await SocketPairAsync();
        var relays = Task.WhenAll(Relay(endpoint, clientEnd), Relay(guest, serverEnd));

        await client.SendAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        var request = await ReadToEndAsync(server);
        await server.SendAsync("HTTP/1.0 200 OK\r\n\r\nhello"u8.ToArray());
        server.Shutdown(SocketShutdown.Send);
        var response = await ReadToEndAsync(client);

        Assert.Equal("GET / HTTP/1.0\r\n\r\n", System.Text.Encoding.ASCII.GetString(request));
        Assert.Equal("HTTP/1.0 200 OK\r\n\r\nhello", System.Text.Encoding.ASCII.GetString(response));
        Assert.All(await relays.WaitAsync(Long), Assert.Null);
    }

    [Fact]
    public async Task AHundredMegabytesArriveWholeAndInOrder()
    {
        var (endpoint, guest) = await ChannelAsync();
        var (client, clientEnd) = await SocketPairAsync();
        var (server, serverEnd) = await SocketPairAsync();
        var relays = Task.WhenAll(Relay(endpoint, clientEnd), Relay(guest, serverEnd));
        var payload = new byte[100 << 20];
        new Random(17).NextBytes(payload);

        var sending = Task.Run(async () =>
        {
            await server.SendAsync(payload);
            server.Shutdown(SocketShutdown.Both);
        });
        var received = await ReadToEndAsync(client);
        await sending;

        Assert.Equal(payload.Length, received.Length);
        Assert.True(payload.AsSpan().SequenceEqual(received));
        client.Shutdown(SocketShutdown.Send);
        await relays.WaitAsync(Long);
    }

    [Fact]
    public async Task AReaderThatTakesNothingHoldsItsWriterToOneWindowOnTheChannel()
    {
        var (endpoint, guest) = await ChannelAsync();
        var (client, clientEnd) = await SocketPairAsync();
        var stalled = new StalledEnd();
        _ = Relay(endpoint, clientEnd);
        _ = Relay(guest, stalled);

        // The client writes far more than a window and all the kernel's buffers could hold; the
        // server end never finishes a write.
        client.SendBufferSize = 64 * 1024;
        client.SendTimeout = 3000;
        var writing = Task.Run(() =>
        {
            var chunk = new byte[64 * 1024];
            try
            {
                for (var i = 0; i < 1024; i++)
                {
                    client.Send(chunk);
                }
            }
            catch (SocketException)
            {
                // The send buffer filled and stayed full: what a stalled reader does to its writer.
            }
        });
        await writing.WaitAsync(TimeSpan.FromMinutes(2));
        var read = guest.DataBytesRead;
        await Task.Delay(500);

        Assert.InRange(read, 1, ConnectionRelay.Window);
        Assert.Equal(read, guest.DataBytesRead);
    }

    [Fact]
    public async Task ALocalEndThatBreaksAbortsTheOtherSide()
    {
        var (endpoint, guest) = await ChannelAsync();
        var (client, clientEnd) = await SocketPairAsync();
        var (server, serverEnd) = await SocketPairAsync();
        var endpointRelay = Relay(endpoint, clientEnd);
        var guestRelay = Relay(guest, serverEnd);

        server.LingerState = new LingerOption(true, 0);
        server.Dispose();
        var read = await client.ReceiveAsync(new byte[16]).WaitAsync(Long).ContinueWith(t => t.IsFaulted ? -1 : t.Result);

        Assert.InRange(read, -1, 0);
        Assert.NotNull(await guestRelay.WaitAsync(Long));
        Assert.Equal("the other side ended the connection", await endpointRelay.WaitAsync(Long));
    }

    [Fact]
    public async Task ARelayStoppedHereTellsTheOtherSideSoItsHalfEndsToo()
    {
        // The container stops, or its ports are unpublished: the guest's half must not stay open.
        var (endpoint, guest) = await ChannelAsync();
        var (client, clientEnd) = await SocketPairAsync();
        var (server, serverEnd) = await SocketPairAsync();
        using var stop = new CancellationTokenSource();
        var endpointRelay = Task.Run(async () =>
        {
            using var relay = new ConnectionRelay(endpoint.Writer, Session, clientEnd, endpoint.Incoming);
            return await relay.RunAsync(stop.Token);
        });
        var guestRelay = Relay(guest, serverEnd);
        await client.SendAsync("hi"u8.ToArray());
        var first = new byte[2];
        await server.ReceiveAsync(first).WaitAsync(Long);

        await stop.CancelAsync();

        Assert.Equal("cancelled", await endpointRelay.WaitAsync(Long));
        Assert.Equal("the other side ended the connection", await guestRelay.WaitAsync(Long));
        Assert.Equal(0, await server.ReceiveAsync(new byte[16]).WaitAsync(Long));
    }

    [Fact]
    public async Task APeerThatSendsPastItsWindowIsCutOff()
    {
        var (endpoint, guest) = await ChannelAsync();
        var stalled = new StalledEnd();
        var relay = Relay(endpoint, stalled);

        // A guest that ignores the window: more than it was granted, with nothing acknowledged.
        for (var i = 0; i < 12; i++)
        {
            await guest.Writer.WriteAsync(FrameType.Data, Session, new byte[FrameWriter.AtomicPayload], CancellationToken.None);
        }

        Assert.Equal("the other side sent past its window on a relayed connection", await relay.WaitAsync(Long));
    }

    [Fact]
    public async Task AChannelThatEndsEndsTheConnection()
    {
        var (endpoint, guest) = await ChannelAsync();
        var (client, clientEnd) = await SocketPairAsync();
        var relay = Relay(endpoint, clientEnd);

        guest.Dispose();

        Assert.Equal("the channel ended", await relay.WaitAsync(Long));
        Assert.Equal(0, await client.ReceiveAsync(new byte[16]).WaitAsync(Long).ContinueWith(t => t.IsFaulted ? 0 : t.Result));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        await Task.CompletedTask;
    }

    private Task<string?> Relay(ChannelSide side, IRelayEnd end) => Task.Run(async () =>
    {
        using var relay = new ConnectionRelay(side.Writer, Session, end, side.Incoming);
        return await relay.RunAsync(CancellationToken.None);
    });

    private async Task<(ChannelSide Endpoint, ChannelSide Guest)> ChannelAsync()
    {
        var (a, b) = await RawPairAsync();
        var endpoint = new ChannelSide(new NetworkStream(a, ownsSocket: true));
        var guest = new ChannelSide(new NetworkStream(b, ownsSocket: true));
        _owned.Add(endpoint);
        _owned.Add(guest);
        return (endpoint, guest);
    }

    private async Task<(Socket Outer, SocketRelayEnd Inner)> SocketPairAsync()
    {
        var (outer, inner) = await RawPairAsync();
        return (outer, new SocketRelayEnd(inner));
    }

    private async Task<(Socket Outer, Socket Inner)> RawPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var outer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await outer.ConnectAsync(listener.LocalEndPoint!);
        var inner = await listener.AcceptAsync();
        _owned.Add(outer);
        _owned.Add(inner);
        return (outer, inner);
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var all = new MemoryStream();
        var buffer = new byte[1 << 16];
        int count;
        while ((count = await socket.ReceiveAsync(buffer).WaitAsync(Long)) > 0)
        {
            all.Write(buffer, 0, count);
        }

        return all.ToArray();
    }

    /// <summary>One side of the channel: its writer, and the frames read from it (all of one connection here).</summary>
    private sealed class ChannelSide : IDisposable
    {
        private readonly Stream _stream;
        private readonly Channel<Frame> _incoming = Channel.CreateUnbounded<Frame>();
        private long _dataBytes;

        public ChannelSide(Stream stream)
        {
            _stream = stream;
            Writer = new FrameWriter(stream);
            _ = Task.Run(async () =>
            {
                var reader = new FrameReader(stream);
                try
                {
                    while (await reader.ReadAsync(CancellationToken.None) is { } frame)
                    {
                        if (frame.Type == FrameType.Data)
                        {
                            Interlocked.Add(ref _dataBytes, frame.Payload.Length);
                        }

                        _incoming.Writer.TryWrite(frame);
                    }
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                }

                _incoming.Writer.TryComplete();
            });
        }

        public FrameWriter Writer { get; }

        public ChannelReader<Frame> Incoming => _incoming.Reader;

        /// <summary>Data bytes this side has read off the channel.</summary>
        public long DataBytesRead => Interlocked.Read(ref _dataBytes);

        public void Dispose()
        {
            Writer.Dispose();
            _stream.Dispose();
        }
    }

    /// <summary>A server that accepted the connection and never reads a byte of it.</summary>
    private sealed class StalledEnd : IRelayEnd
    {
        public bool Datagrams => false;

        public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }

        public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            await Task.Delay(Timeout.Infinite, cancellationToken);

        public void EndSending()
        {
        }

        public void Dispose()
        {
        }
    }
}
