namespace Vic.Interaction.Tests;

/// <summary>Every frame type's exact bytes on the wire: the contract between endpoint and tether.</summary>
public sealed class FrameGoldenTests
{
    public static TheoryData<FrameType, uint, byte[], string> Frames => new()
    {
        { FrameType.Hello, 0, Payloads.Json(new HelloMessage(1, "6.1.0", "b1", 1.5, 1.62), InteractionJson.Default.HelloMessage), "56 01 00000000 0000004A 7B2276657273696F6E223A312C226B65726E656C223A22362E312E30222C22626F6F744964223A226231222C22737461727465644174223A312E352C2273656E744174223A312E36327D" },
        { FrameType.Spec, 0, "{}"u8.ToArray(), "56 02 00000000 00000002 7B7D" },
        { FrameType.Rehearse, 1, "{}"u8.ToArray(), "56 1B 00000001 00000002 7B7D" },
        { FrameType.Started, 0, Payloads.Json(new StartedMessage(42), InteractionJson.Default.StartedMessage), "56 03 00000000 0000000A 7B22706964223A34327D" },
        { FrameType.Started, 0, Payloads.Json(new StartedMessage(7, new StartTimings(1.5, 20, 45.25, 50)), InteractionJson.Default.StartedMessage), "56 03 00000000 00000050 7B22706964223A372C2274696D696E6773223A7B226E6574776F726B4D73223A312E352C226469736B734D73223A32302C22726F6F744D73223A34352E32352C2270726F636573734D73223A35307D7D" },
        { FrameType.Stdin, 3, "hi\n"u8.ToArray(), "56 04 00000003 00000003 68690A" },
        { FrameType.StdinClose, 3, [], "56 05 00000003 00000000" },
        { FrameType.Stdout, 0, "out"u8.ToArray(), "56 06 00000000 00000003 6F7574" },
        { FrameType.Stderr, 7, "err"u8.ToArray(), "56 07 00000007 00000003 657272" },
        { FrameType.Exit, 0, Payloads.Int32(137), "56 08 00000000 00000004 00000089" },
        { FrameType.OomKilled, 0, [], "56 21 00000000 00000000" },
        { FrameType.Exec, 0x01020304, "{}"u8.ToArray(), "56 09 01020304 00000002 7B7D" },
        { FrameType.Signal, 0, Payloads.Int32(15), "56 0A 00000000 00000004 0000000F" },
        { FrameType.Resize, 2, Payloads.Size(40, 132), "56 0B 00000002 00000004 00280084" },
        { FrameType.StatsRequest, 0, [], "56 0C 00000000 00000000" },
        { FrameType.Stats, 0, "{}"u8.ToArray(), "56 0D 00000000 00000002 7B7D" },
        { FrameType.PowerOff, 0, [], "56 0E 00000000 00000000" },
        { FrameType.Error, 9, Payloads.Text("no"), "56 0F 00000009 00000002 6E6F" },
        { FrameType.Attach, 0, [], "56 10 00000000 00000000" },
        { FrameType.State, 0, "{}"u8.ToArray(), "56 11 00000000 00000002 7B7D" },
        { FrameType.Pause, Frame.FirstRequest, [], "56 12 80000000 00000000" },
        { FrameType.Unpause, Frame.FirstRequest + 1, [], "56 13 80000001 00000000" },
        { FrameType.Done, Frame.FirstRequest + 1, [], "56 14 80000001 00000000" },
        { FrameType.TopRequest, Frame.FirstRequest + 2, [], "56 15 80000002 00000000" },
        { FrameType.Top, Frame.FirstRequest + 2, "{}"u8.ToArray(), "56 16 80000002 00000002 7B7D" },
        { FrameType.FilesRequest, Frame.FirstRequest + 1, Payloads.Json(new FilesRequest(FilesRequest.Stat, "/etc"), InteractionJson.Default.FilesRequest), "56 17 80000001 0000003F 7B226F7065726174696F6E223A2273746174222C2270617468223A222F657463222C226E6F4F76657277726974654469724E6F6E446972223A66616C73657D" },
        { FrameType.Data, Frame.FirstRequest + 1, "tar"u8.ToArray(), "56 18 80000001 00000003 746172" },
        { FrameType.DataEnd, Frame.FirstRequest + 1, [], "56 19 80000001 00000000" },
        { FrameType.Limits, Frame.FirstRequest + 4, Payloads.Json(new LimitsSpec(314572800), InteractionJson.Default.LimitsSpec), "56 1C 80000004 00000019 " + Convert.ToHexString("{\"memoryBytes\":314572800}"u8) },
        { FrameType.Network, Frame.FirstRequest + 3, Payloads.Json(new NetworkSpec("02:42:00:00:00:02", ["172.18.0.2/16"], null, null, null), InteractionJson.Default.NetworkSpec), "56 1A 80000003 000000A5 " + Convert.ToHexString("{\"bridgeMac\":\"02:42:00:00:00:02\",\"bridgeAddresses\":[\"172.18.0.2/16\"],\"publicAddress\":null,\"publicGateway\":null,\"hostAddress\":null,\"bridgeIpv6Addresses\":[],\"nics\":[]}"u8) },
        { FrameType.Connect, Frame.FirstRequest + 5, Payloads.Json(new PortConnect("tcp", 80), InteractionJson.Default.PortConnect), "56 1D 80000005 0000001C " + Convert.ToHexString("{\"protocol\":\"tcp\",\"port\":80}"u8) },
        { FrameType.Window, Frame.FirstRequest + 5, Payloads.Int32(32758), "56 1E 80000005 00000004 00007FF6" },
        { FrameType.Disconnect, Frame.FirstRequest + 5, [], "56 1F 80000005 00000000" },
        { FrameType.PeerHosts, Frame.FirstRequest + 6, "{}"u8.ToArray(), "56 20 80000006 00000002 7B7D" },
    };

    /// <summary>A virtio-serial port drops a write caught by a disconnect whole; a frame split over two writes could lose only its header.</summary>
    [Fact]
    public async Task AFrameLeavesInOneWrite()
    {
        using var stream = new CountingStream();
        using var writer = new FrameWriter(stream);

        await writer.WriteAsync(FrameType.Stdout, 0, new byte[FrameWriter.AtomicPayload], CancellationToken.None);
        await writer.WriteChunkedAsync(FrameType.Stdout, 0, new byte[(FrameWriter.AtomicPayload * 2) + 1], CancellationToken.None);

        Assert.Equal([FrameWriter.AtomicPayload + FrameCodec.HeaderLength, FrameWriter.AtomicPayload + FrameCodec.HeaderLength, FrameWriter.AtomicPayload + FrameCodec.HeaderLength, 1 + FrameCodec.HeaderLength], stream.Writes);
        Assert.Equal(32 * 1024, FrameWriter.AtomicPayload + FrameCodec.HeaderLength);
    }

    private sealed class CountingStream : MemoryStream
    {
        public List<int> Writes { get; } = [];

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(buffer.Length);
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public async Task EncodesAndDecodesExactly(FrameType type, uint session, byte[] payload, string golden)
    {
        var expected = Convert.FromHexString(golden.Replace(" ", "", StringComparison.Ordinal));
        using var stream = new MemoryStream();
        using var writer = new FrameWriter(stream);

        await writer.WriteAsync(type, session, payload, CancellationToken.None);

        Assert.Equal(expected, stream.ToArray());
        Assert.Equal(expected, FrameCodec.Encode(new Frame(type, session, payload)));
        stream.Position = 0;
        var frame = await new FrameReader(stream).ReadAsync(CancellationToken.None);
        Assert.NotNull(frame);
        Assert.Equal(type, frame.Type);
        Assert.Equal(session, frame.Session);
        Assert.Equal(payload, frame.Payload.ToArray());
        Assert.Null(await new FrameReader(stream).ReadAsync(CancellationToken.None));
    }

    [Fact]
    public void EveryFrameTypeHasAGoldenCase()
    {
        var covered = Frames.Select(row => (FrameType)row[0]).ToHashSet();

        Assert.Equal(Enum.GetValues<FrameType>().ToHashSet(), covered);
    }

    [Fact]
    public void SpecRoundTripsThroughJson()
    {
        var spec = new ContainerSpec
        {
            Id = "abc",
            Args = ["sh", "-c", "echo hi"],
            Env = ["A=1"],
            Tty = true,
            Disks = [new DiskSpec("layer0", "layer", 0), new DiskSpec("scratch", "scratch", 0)],
        };

        var back = Payloads.Json(Payloads.Json(spec, InteractionJson.Default.ContainerSpec), InteractionJson.Default.ContainerSpec);

        Assert.Equal(spec.Args, back.Args);
        Assert.Equal(spec.Disks, back.Disks);
        Assert.True(back.Tty);
    }

    [Fact]
    public void TheEntropySeedTravelsWhenSetAndIsLeftOutWhenNot()
    {
        var seeded = new ContainerSpec { Id = "a", Args = ["true"], EntropySeed = "AAECAw==" };
        var plain = new ContainerSpec { Id = "a", Args = ["true"] };

        var json = System.Text.Encoding.UTF8.GetString(Payloads.Json(seeded, InteractionJson.Default.ContainerSpec));

        Assert.Contains("\"entropySeed\":\"AAECAw==\"", json, StringComparison.Ordinal);
        Assert.Equal("AAECAw==", Payloads.Json(Payloads.Json(seeded, InteractionJson.Default.ContainerSpec), InteractionJson.Default.ContainerSpec).EntropySeed);
        Assert.DoesNotContain("entropySeed", System.Text.Encoding.UTF8.GetString(Payloads.Json(plain, InteractionJson.Default.ContainerSpec)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LargeWritesAreChunkedUnderTheLimit()
    {
        using var stream = new MemoryStream();
        using var writer = new FrameWriter(stream);
        var data = new byte[200_000];
        Random.Shared.NextBytes(data);

        await writer.WriteChunkedAsync(FrameType.Stdout, 0, data, CancellationToken.None);

        stream.Position = 0;
        var reader = new FrameReader(stream);
        var collected = new List<byte>();
        while (await reader.ReadAsync(CancellationToken.None) is { } frame)
        {
            Assert.True(frame.Payload.Length <= 65536);
            collected.AddRange(frame.Payload.ToArray());
        }

        Assert.Equal(data, collected.ToArray());
    }
}
