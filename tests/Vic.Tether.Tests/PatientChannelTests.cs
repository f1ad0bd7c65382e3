using Vic.Tether;

namespace Vic.Tether.Tests;

/// <summary>The VM's end of the channel over a port that reads as a virtio-serial port does: nothing while the host is away.</summary>
public sealed class PatientChannelTests
{
    [Fact]
    public async Task AHostThatComesBackIsSignalledOnceAndItsFirstBytesAreKeptForTheFreshReader()
    {
        using var channel = new PatientChannel(new ScriptedPort("AB", "", "", "CD", "EF"), signalReconnects: true);
        var buffer = new byte[16];

        var first = await ReadAsync(channel, buffer);
        var reconnected = await Assert.ThrowsAsync<HostReconnectedException>(() => channel.ReadAsync(buffer).AsTask());
        var held = await ReadAsync(channel, buffer);
        var next = await ReadAsync(channel, buffer);

        Assert.Equal("AB", first);
        Assert.Contains("reconnected", reconnected.Message, StringComparison.Ordinal);
        Assert.Equal("CD", held);
        Assert.Equal("EF", next);
    }

    [Fact]
    public async Task HeldBytesAreGivenOutInPiecesAsSmallAsTheReadersBuffer()
    {
        using var channel = new PatientChannel(new ScriptedPort("", "WXYZ"), signalReconnects: true);
        await Assert.ThrowsAsync<HostReconnectedException>(() => channel.ReadAsync(new byte[16]).AsTask());
        var small = new byte[3];

        var pieces = new[] { await ReadAsync(channel, small), await ReadAsync(channel, small) };

        Assert.Equal(["WXY", "Z"], pieces);
    }

    [Fact]
    public async Task WithoutReconnectSignalsTheHostsAbsenceIsWaitedOutQuietly()
    {
        using var channel = new PatientChannel(new ScriptedPort("AB", "", "", "CD"));
        var buffer = new byte[16];

        Assert.Equal(["AB", "CD"], new[] { await ReadAsync(channel, buffer), await ReadAsync(channel, buffer) });
    }

    private static async Task<string> ReadAsync(PatientChannel channel, byte[] buffer)
    {
        var read = await channel.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        return System.Text.Encoding.ASCII.GetString(buffer, 0, read);
    }

    /// <summary>Each read returns the next scripted piece; an empty one is a read of nothing (no host).</summary>
    private sealed class ScriptedPort(params string[] pieces) : MemoryStream
    {
        private int _next;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var piece = _next < pieces.Length ? pieces[_next++] : throw new InvalidOperationException("the test read more than it scripted");
            System.Text.Encoding.ASCII.GetBytes(piece).CopyTo(buffer.Span);
            return ValueTask.FromResult(piece.Length);
        }
    }
}
