namespace Vic.Interaction.Tests;

/// <summary>Garbage, truncation and corruption must end in a ProtocolException (or a clean end), never anything else.</summary>
public sealed class FrameFuzzTests
{
    [Fact]
    public async Task RandomBytesNeverCrashTheReader()
    {
        var random = new Random(1234);
        for (var i = 0; i < 5000; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            if (random.Next(2) == 0 && bytes.Length > 0)
            {
                bytes[0] = FrameCodec.Magic;
            }

            await ReadAllExpectingOnlyProtocolErrorsAsync(bytes);
        }
    }

    [Fact]
    public async Task EveryTruncationOfAValidStreamIsDetected()
    {
        var frames = new[]
        {
            FrameCodec.Encode(new Frame(FrameType.Stdout, 1, "hello"u8.ToArray())),
            FrameCodec.Encode(new Frame(FrameType.Exit, 1, Payloads.Int32(0))),
        };
        var stream = frames.SelectMany(f => f).ToArray();
        var boundaries = new HashSet<int> { 0, frames[0].Length, stream.Length };

        for (var cut = 0; cut <= stream.Length; cut++)
        {
            var reader = new FrameReader(new MemoryStream(stream[..cut]));
            if (boundaries.Contains(cut))
            {
                var count = 0;
                while (await reader.ReadAsync(CancellationToken.None) is not null)
                {
                    count++;
                }

                Assert.Equal(cut == 0 ? 0 : cut == frames[0].Length ? 1 : 2, count);
            }
            else
            {
                await Assert.ThrowsAsync<ProtocolException>(async () =>
                {
                    while (await reader.ReadAsync(CancellationToken.None) is not null)
                    {
                    }
                });
            }
        }
    }

    [Fact]
    public async Task FlippedBitsInValidFramesNeverCrashTheReader()
    {
        var valid = FrameCodec.Encode(new Frame(FrameType.Spec, 0, Payloads.Json(new ContainerSpec { Id = "x", Args = ["true"] }, InteractionJson.Default.ContainerSpec)));
        var random = new Random(99);
        for (var i = 0; i < 3000; i++)
        {
            var corrupt = (byte[])valid.Clone();
            corrupt[random.Next(corrupt.Length)] ^= (byte)(1 << random.Next(8));
            await ReadAllExpectingOnlyProtocolErrorsAsync(corrupt);
            try
            {
                var frame = await new FrameReader(new MemoryStream(corrupt)).ReadAsync(CancellationToken.None);
                if (frame is { Type: FrameType.Spec })
                {
                    Payloads.Json(frame.Payload, InteractionJson.Default.ContainerSpec);
                }
            }
            catch (ProtocolException)
            {
            }
        }
    }

    [Theory]
    [InlineData("00 01 00000000 00000000", "bad frame magic 0x00")]
    [InlineData("56 FF 00000000 00000000", "unknown frame type 0xff")]
    [InlineData("56 06 00000000 7FFFFFFF", "frame payload length 2147483647 out of range")]
    [InlineData("56 06 00000000 FFFFFFFF", "frame payload length -1 out of range")]
    public async Task BadHeadersSayWhatIsWrong(string hex, string message)
    {
        var reader = new FrameReader(new MemoryStream(Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal))));

        var error = await Assert.ThrowsAsync<ProtocolException>(() => reader.ReadAsync(CancellationToken.None).AsTask());

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void PayloadDecodersRefuseWrongSizes()
    {
        Assert.Throws<ProtocolException>(() => Payloads.Int32(new byte[3]));
        Assert.Throws<ProtocolException>(() => Payloads.Size(new byte[5]));
        Assert.Throws<ProtocolException>(() => Payloads.Json("{not json"u8.ToArray(), InteractionJson.Default.ExecSpec));
    }

    private static async Task ReadAllExpectingOnlyProtocolErrorsAsync(byte[] bytes)
    {
        var reader = new FrameReader(new MemoryStream(bytes));
        try
        {
            while (await reader.ReadAsync(CancellationToken.None) is not null)
            {
            }
        }
        catch (ProtocolException)
        {
        }
    }
}
