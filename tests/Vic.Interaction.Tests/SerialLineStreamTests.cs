namespace Vic.Interaction.Tests;

public sealed class SerialLineStreamTests
{
    [Fact]
    public async Task WhatTheLineEchoedBeforeTheTetherSpokeIsDroppedAndItsFramesPassWhole()
    {
        // The endpoint's Attach echoed cooked (V ^P ^@...), a stray NUL, then the tether's hello and a stdout frame.
        var frames = new MemoryStream();
        var writer = new FrameWriter(frames);
        await writer.WriteAsync(FrameType.Hello, 0, "{}"u8.ToArray(), CancellationToken.None);
        await writer.WriteAsync(FrameType.Stdout, 0, "hi\n"u8.ToArray(), CancellationToken.None);
        byte[] noise = [.. "V^P^@^@^@^@^@^@^@^@"u8, 0x00, (byte)'V'];
        using var channel = new SerialLineStream(new MemoryStream([.. noise, .. frames.ToArray()]));

        var reader = new FrameReader(channel);
        var hello = await reader.ReadAsync(CancellationToken.None);
        var stdout = await reader.ReadAsync(CancellationToken.None);

        Assert.Equal(FrameType.Hello, hello!.Type);
        Assert.Equal("hi\n", System.Text.Encoding.UTF8.GetString(stdout!.Payload.Span));
        Assert.Equal(-1, SerialLineStream.FrameStart("V^P^@"u8));
    }
}
