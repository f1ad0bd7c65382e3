using System.Net;
using System.Net.Sockets;
using Vic.Interaction;

namespace Vic.Interaction.Tests;

/// <summary>The endpoint's side of the protocol against a programmable fake tether on a loopback socket.</summary>
public sealed class TetherConnectionTests : IAsyncLifetime
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private FakeTether _guest = null!;
    private Stream _channel = null!;

    public async Task InitializeAsync() => (_channel, _guest) = await FakeTether.ConnectAsync();

    public async Task DisposeAsync()
    {
        await _channel.DisposeAsync();
        _guest.Dispose();
    }

    [Fact]
    public async Task AnswersReachTheirRequestsInWhateverOrderTheyComeAndOutputReachesTheReader()
    {
        using var tether = new TetherConnection(_channel);
        var reading = ReadAllAsync(tether);
        var first = tether.RequestAsync(FrameType.StatsRequest, ReadOnlyMemory<byte>.Empty, Long, CancellationToken.None);
        var second = tether.RequestAsync(FrameType.FilesRequest, Payloads.Text("stat /"), Long, CancellationToken.None);
        var asked = new[] { await _guest.ReadAsync(), await _guest.ReadAsync() };

        await _guest.SendAsync(FrameType.Done, asked[1].Session, Payloads.Text("second"));
        await _guest.SendAsync(FrameType.Stdout, Frame.MainSession, Payloads.Text("hello\n"));
        await _guest.SendAsync(FrameType.Stats, asked[0].Session, Payloads.Text("first"));
        _guest.Dispose();

        Assert.Equal("first", Payloads.Text((await first.WaitAsync(Long)).Payload));
        Assert.Equal("second", Payloads.Text((await second.WaitAsync(Long)).Payload));
        var unsolicited = Assert.Single(await reading.WaitAsync(Long));
        Assert.Equal((FrameType.Stdout, "hello\n"), (unsolicited.Type, Payloads.Text(unsolicited.Payload)));
        Assert.All(asked, a => Assert.True(a.Session >= Frame.FirstRequest));
        Assert.NotEqual(asked[0].Session, asked[1].Session);
    }

    [Fact]
    public async Task AnAttachAnsweredWithStateGivesTheStateToTheCallerAndToTheReader()
    {
        using var tether = new TetherConnection(_channel);
        var reading = ReadAllAsync(tether);
        var greeting = tether.AttachAsync(Long, CancellationToken.None);
        var attach = await _guest.ReadAsync();
        var report = new StateReport([new SessionState(0, 42, null), new SessionState(3, 57, 0)]);
        await _guest.SendAsync(FrameType.State, 0, Payloads.Json(report, InteractionJson.Default.StateReport));
        _guest.Dispose();

        var answer = await greeting.WaitAsync(Long);
        var seen = await reading.WaitAsync(Long);

        Assert.Equal(FrameType.Attach, attach.Type);
        Assert.Null(answer.Hello);
        Assert.Equal([0u, 3u], answer.State!.Sessions.Select(s => s.Session));
        Assert.Equal(FrameType.State, Assert.Single(seen).Type);
    }

    [Fact]
    public async Task TheAttachsCallerHasTheAnswerOnlyOnceTheReaderHasActedOnIt()
    {
        // The port layer's pump learns the sessions a State names before recovery numbers new ones.
        using var tether = new TetherConnection(_channel);
        var acted = false;
        var reading = Task.Run(async () =>
        {
            while (await tether.ReadAsync(CancellationToken.None) is { } frame)
            {
                if (frame.Type == FrameType.State)
                {
                    await Task.Delay(200);
                    acted = true;
                }
            }
        });
        var greeting = tether.AttachAsync(Long, CancellationToken.None);
        await _guest.ReadAsync();
        await _guest.SendAsync(FrameType.State, 0, Payloads.Json(new StateReport([new SessionState(0, 42, null)]), InteractionJson.Default.StateReport));

        await greeting.WaitAsync(Long);
        var actedFirst = acted;
        _guest.Dispose();
        await reading.WaitAsync(Long);

        Assert.True(actedFirst);
    }

    [Fact]
    public async Task AnAnswerReadJustBeforeTheChannelEndedIsStillTheAnswer()
    {
        using var tether = new TetherConnection(_channel);
        var greeting = tether.AttachAsync(Long, CancellationToken.None);
        await _guest.ReadAsync();
        await _guest.SendAsync(FrameType.Hello, 0, Payloads.Json(new HelloMessage(1, "fake", "boot"), InteractionJson.Default.HelloMessage));
        _guest.Dispose();

        var frames = await ReadAllAsync(tether).WaitAsync(Long);
        var answer = await greeting.WaitAsync(Long);

        Assert.Equal(FrameType.Hello, Assert.Single(frames).Type);
        Assert.Equal("fake", answer.Hello!.Kernel);
    }

    [Fact]
    public async Task AChannelThatEndsFailsEveryoneStillWaitingAtOnce()
    {
        using var tether = new TetherConnection(_channel);
        var reading = ReadAllAsync(tether);
        var request = tether.RequestAsync(FrameType.StatsRequest, ReadOnlyMemory<byte>.Empty, Long, CancellationToken.None);
        var (_, transfer) = tether.OpenStream();
        var greeting = tether.AttachAsync(Long, CancellationToken.None);
        await _guest.ReadAsync();
        await _guest.ReadAsync();

        _guest.Dispose();

        await Assert.ThrowsAsync<TetherClosedException>(() => request.WaitAsync(Long));
        await Assert.ThrowsAsync<TetherClosedException>(() => greeting.WaitAsync(Long));
        await Assert.ThrowsAsync<TetherClosedException>(() => transfer.Completion.WaitAsync(Long));
        Assert.Empty(await reading.WaitAsync(Long));
        await Assert.ThrowsAsync<TetherClosedException>(() => tether.RequestAsync(FrameType.StatsRequest, ReadOnlyMemory<byte>.Empty, Long, CancellationToken.None));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("cut")]
    [InlineData("oversized")]
    public async Task ATetherThatBreaksTheProtocolClosesTheConnectionWithAProtocolError(string fault)
    {
        using var tether = new TetherConnection(_channel);
        var request = tether.RequestAsync(FrameType.StatsRequest, ReadOnlyMemory<byte>.Empty, Long, CancellationToken.None);
        var reading = ReadAllAsync(tether);
        var asked = await _guest.ReadAsync();

        switch (fault)
        {
            case "garbage":
                await _guest.SendRawAsync(System.Text.Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\n\r\n"));
                break;
            case "cut":
                var whole = FakeTether.Encode(FrameType.Stats, asked.Session, Payloads.Text("{\"cpu\":1}"));
                await _guest.SendRawAsync(whole[..^3]);
                _guest.Dispose();
                break;
            case "oversized":
                var header = FakeTether.Encode(FrameType.Stdout, 0, ReadOnlyMemory<byte>.Empty)[..FrameCodec.HeaderLength];
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(6), int.MaxValue);
                await _guest.SendRawAsync(header);
                break;
        }

        await Assert.ThrowsAsync<ProtocolException>(() => reading.WaitAsync(Long));
        await Assert.ThrowsAsync<TetherClosedException>(() => request.WaitAsync(Long));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => tether.SendAsync(FrameType.Signal, 0, Payloads.Int32(9), CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task ASilentTetherTimesTheAttachOutAndALateAnswerToAnAbandonedRequestIsDropped()
    {
        using var tether = new TetherConnection(_channel);
        var reading = ReadAllAsync(tether);
        var silent = await Assert.ThrowsAsync<TimeoutException>(() => tether.AttachAsync(TimeSpan.FromMilliseconds(200), CancellationToken.None));
        var abandoned = await Assert.ThrowsAsync<TimeoutException>(() => tether.RequestAsync(FrameType.StatsRequest, ReadOnlyMemory<byte>.Empty, TimeSpan.FromMilliseconds(200), CancellationToken.None));
        await _guest.ReadAsync();
        var request = await _guest.ReadAsync();

        await _guest.SendAsync(FrameType.Stats, request.Session, Payloads.Text("late"));
        await _guest.SendAsync(FrameType.Stdout, 0, Payloads.Text("after\n"));
        _guest.Dispose();

        var seen = await reading.WaitAsync(Long);
        Assert.NotNull(silent);
        Assert.NotNull(abandoned);
        Assert.Equal("after\n", Payloads.Text(Assert.Single(seen).Payload));
    }

    [Fact]
    public async Task ARehearsalsFramesReachTheReaderThoughTheirSessionIsInTheRequestsRange()
    {
        using var tether = new TetherConnection(_channel);
        var reading = ReadAllAsync(tether);
        await _guest.SendAsync(FrameType.Exit, Frame.RehearsalSession, Payloads.Int32(0));
        await _guest.SendAsync(FrameType.Done, 1, ReadOnlyMemory<byte>.Empty);
        _guest.Dispose();

        var seen = await reading.WaitAsync(Long);

        Assert.Equal([(FrameType.Exit, Frame.RehearsalSession), (FrameType.Done, 1u)], seen.Select(f => (f.Type, f.Session)));
    }

    [Fact]
    public async Task AttachAndReadStopsRightAfterTheAnswerSoTheStreamCanBeHandedOn()
    {
        var answered = Task.Run(async () =>
        {
            using var probe = new TetherConnection(_channel);
            return await probe.AttachAndReadAsync(Long, CancellationToken.None);
        });
        await _guest.ReadAsync();
        await _guest.SendAsync(FrameType.Stdout, 0, Payloads.Text("boot noise\n"));
        await _guest.SendAsync(FrameType.Hello, 0, Payloads.Json(new HelloMessage(1, "fake", "boot"), InteractionJson.Default.HelloMessage));
        await _guest.SendAsync(FrameType.Done, 1, Payloads.Text("for the next reader"));

        var greeting = await answered.WaitAsync(Long);
        using var next = new TetherConnection(_channel);
        var handedOn = await next.ReadAsync(CancellationToken.None).AsTask().WaitAsync(Long);

        Assert.Equal("fake", greeting.Hello!.Kernel);
        Assert.Equal((FrameType.Done, "for the next reader"), (handedOn!.Type, Payloads.Text(handedOn.Payload)));
    }

    private static Task<List<Frame>> ReadAllAsync(TetherConnection tether) => Task.Run(async () =>
    {
        var frames = new List<Frame>();
        while (await tether.ReadAsync(CancellationToken.None) is { } frame)
        {
            frames.Add(frame);
        }

        return frames;
    });

    /// <summary>The guest's end of a loopback channel, driven frame by frame (or byte by byte) by the test.</summary>
    private sealed class FakeTether(TcpClient client) : IDisposable
    {
        private readonly NetworkStream _stream = client.GetStream();
        private FrameReader? _reader;

        public static async Task<(Stream Host, FakeTether Guest)> ConnectAsync()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var host = new TcpClient();
            await host.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
            var guest = await listener.AcceptTcpClientAsync();
            return (host.GetStream(), new FakeTether(guest));
        }

        public static byte[] Encode(FrameType type, uint session, ReadOnlyMemory<byte> payload)
        {
            var bytes = new byte[FrameCodec.HeaderLength + payload.Length];
            FrameCodec.WriteHeader(bytes, type, session, payload.Length);
            payload.CopyTo(bytes.AsMemory(FrameCodec.HeaderLength));
            return bytes;
        }

        public async Task<Frame> ReadAsync() =>
            await (_reader ??= new FrameReader(_stream)).ReadAsync(CancellationToken.None).AsTask().WaitAsync(Long) ?? throw new IOException("the host closed the channel");

        public Task SendAsync(FrameType type, uint session, ReadOnlyMemory<byte> payload) => SendRawAsync(Encode(type, session, payload));

        public async Task SendRawAsync(byte[] bytes)
        {
            await _stream.WriteAsync(bytes);
            await _stream.FlushAsync();
        }

        public void Dispose() => client.Dispose();
    }
}
