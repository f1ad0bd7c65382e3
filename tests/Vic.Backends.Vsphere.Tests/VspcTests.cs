using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Vic.Backends.Vsphere.Vspc;
using Vic.TestSupport;

namespace Vic.Backends.Vsphere.Tests;

/// <summary>The VCH's vSPC against the bytes a VMX sends (VMware's "Using a Proxy with Virtual Serial Ports").</summary>
public sealed class VspcTests
{
    private const byte Iac = 255;

    private static readonly byte[] VmxOpening =
    [
        Iac, 251, 0, // WILL BINARY
        Iac, 253, 0, // DO BINARY
        Iac, 251, 3, // WILL SUPPRESS-GO-AHEAD
        Iac, 251, 232, // WILL VMWARE-TELNET-EXT
        Iac, 250, 232, 0, 0, 1, 70, 71, 73, 80, 81, Iac, 240, // KNOWN-SUBOPTIONS-1
    ];

    [Fact]
    public async Task TheProxyAnswersTheVmxsNegotiationByteForByte()
    {
        await using var vmx = new Duplex();
        var accepting = VspcSession.AcceptAsync(vmx.ProxyEnd, uri => uri == "vic/vch1", CancellationToken.None);
        await vmx.SendAsync(VmxOpening);

        var opening = await vmx.ReceiveAsync(15);
        var answer = await vmx.ReceiveAsync(4 + Telnet.ProxySuboptions.Length + 2 + 6);
        await vmx.SendAsync([Iac, 250, 232, 70, (byte)'S', .. "vic/vch1"u8, Iac, 240]);
        await vmx.SendAsync([Iac, 250, 232, 80, .. "50 29 c2 f6 1a 2b 3c 4d-5e 6f 70 81 92 a3 b4 c5"u8, Iac, 240]);
        var session = await accepting.WaitAsync(TimeSpan.FromSeconds(10));
        var willProxy = await vmx.ReceiveAsync(6);

        // The proxy opens (WILL and DO BINARY and SUPPRESS-GO-AHEAD, DO VMWARE-TELNET-EXT); the VMX's
        // own offers of those are taken as answers; its known sub-options get the proxy's, and the question of who it is.
        Assert.Equal([Iac, 251, 0, Iac, 253, 0, Iac, 251, 3, Iac, 253, 3, Iac, 253, 232], opening);
        Assert.Equal([Iac, 250, 232, 1, .. Telnet.ProxySuboptions, Iac, 240, Iac, 250, 232, 81, Iac, 240], answer);
        Assert.Equal([Iac, 250, 232, 71, Iac, 240], willProxy);
        Assert.Equal("5029c2f61a2b3c4d5e6f708192a3b4c5", session.VmUuid);
        Assert.Equal("vic/vch1", session.ServiceUri);
    }

    [Fact]
    public async Task ServingAnotherServiceUriIsRefusedWithWontProxy()
    {
        await using var vmx = new Duplex();
        var accepting = VspcSession.AcceptAsync(vmx.ProxyEnd, uri => uri == "vic/vch1", CancellationToken.None);
        await vmx.SendAsync([Iac, 250, 232, 80, .. "11 22"u8, Iac, 240, Iac, 250, 232, 70, (byte)'S', .. "vic/other"u8, Iac, 240]);

        await Assert.ThrowsAsync<InvalidDataException>(() => accepting.WaitAsync(TimeSpan.FromSeconds(10)));
        await vmx.ReceiveAsync(15);
        Assert.Equal([Iac, 250, 232, 73, Iac, 240], await vmx.ReceiveAsync(6));
    }

    [Fact]
    public async Task APortWhoseVmIsTheClientEndIsRefused()
    {
        await using var vmx = new Duplex();
        var accepting = VspcSession.AcceptAsync(vmx.ProxyEnd, _ => true, CancellationToken.None);
        await vmx.SendAsync([Iac, 250, 232, 80, .. "11 22"u8, Iac, 240, Iac, 250, 232, 70, (byte)'C', .. "vic/vch1"u8, Iac, 240]);

        await Assert.ThrowsAsync<InvalidDataException>(() => accepting.WaitAsync(TimeSpan.FromSeconds(10)));
        await vmx.ReceiveAsync(15);
        Assert.Equal([Iac, 250, 232, 73, Iac, 240], await vmx.ReceiveAsync(6));
    }

    [Fact]
    public async Task AnIacThatBreaksIntoASubnegotiationStartsACommandAndTheRestIsRead()
    {
        var decoder = new TelnetDecoder();
        var data = new List<byte>();
        var commands = new List<TelnetCommand>();

        // SB 232 80 "ab" cut off by IAC WILL 0, then data, then a whole SB with a doubled 255 cut between reads.
        decoder.Decode([Iac, 250, 232, 80, 97, 98, Iac, 251, 0, 7, Iac, 250, 232, 82, Iac], data, commands);
        decoder.Decode([Iac, 99, Iac, 240, 8], data, commands);

        Assert.Equal([7, 8], data);
        Assert.Equal(2, commands.Count);
        Assert.Equal((Telnet.Will, Telnet.Binary), (commands[0].Verb, commands[0].Option));
        Assert.Equal((Telnet.Sb, Telnet.VmwareExtension), (commands[1].Verb, commands[1].Option));
        Assert.Equal([82, Iac, 99], commands[1].Payload);
    }

    [Fact]
    public async Task DataKeepsEvery255AndCommandsCutByAReadAreJoined()
    {
        await using var vmx = new Duplex();
        var accepting = VspcSession.AcceptAsync(vmx.ProxyEnd, _ => true, CancellationToken.None);
        // The guest's first bytes come with the negotiation: a 255 doubled, and a NOP between them.
        await vmx.SendAsync([Iac, 250, 232, 80, .. "ab"u8, Iac, 240, 1, Iac, Iac, 2, Iac, 241, 3, Iac, 250, 232, 70, (byte)'S', (byte)'x', Iac, 240]);
        var session = await accepting.WaitAsync(TimeSpan.FromSeconds(10));
        await vmx.ReceiveAsync(15 + 6);

        // A doubled 255 and a sub-negotiation each cut in two by the reads.
        await vmx.SendAsync([4, Iac]);
        await vmx.SendAsync([Iac, 5, Iac, 250, 232]);
        await vmx.SendAsync([40, 7, Iac, 240, 6]);
        var read = new byte[7];
        var got = 0;
        while (got < read.Length)
        {
            got += await session.ReadAsync(read.AsMemory(got));
        }

        await session.WriteAsync(new byte[] { 9, Iac, 10 });
        var goahead = await vmx.ReceiveAsync(6 + 1 + 4);
        var written = await vmx.ReceiveAsync(4);

        Assert.Equal([1, Iac, 2, 3, 4, Iac, 5], read[..7]);
        Assert.Equal([Iac, 250, 232, 41, 7], goahead[..5]);
        Assert.Equal([Iac, 240], goahead[^2..]);
        Assert.Equal([9, Iac, Iac, 10], written);
    }

    [Fact]
    public async Task EachVmxConnectionReachesTheVmItNamesAndTheNewestWins()
    {
        await using var vspc = new VspcListener(IPAddress.Loopback, 0, "vic/vch1", TimeSpan.FromSeconds(10));
        var proxy = $"telnet://127.0.0.1:{vspc.Port}";
        const string first = "50291111-2222-3333-4444-555566667777", second = "5029aaaa-bbbb-cccc-dddd-eeeeffff0000";

        await using var one = await VmxSerialPort.ConnectAsync("vic/vch1", proxy, first, CancellationToken.None);
        await using var stale = await VmxSerialPort.ConnectAsync("vic/vch1", proxy, second, CancellationToken.None);
        await using var two = await VmxSerialPort.ConnectAsync("vic/vch1", proxy, second, CancellationToken.None);
        await one.WriteAsync(new byte[] { 0x56, 0x01, 0x02 });
        await two.WriteAsync(new byte[] { 0x56, 0x01, 0x03 });
        await Task.Delay(200);
        await using var toSecond = await vspc.OpenAsync(second.ToUpperInvariant(), TimeSpan.FromSeconds(10), CancellationToken.None);
        await using var toFirst = await vspc.OpenAsync(first, TimeSpan.FromSeconds(10), CancellationToken.None);
        var fromFirst = await ReadAsync(toFirst, 3);
        var fromSecond = await ReadAsync(toSecond, 3);
        await toFirst.WriteAsync(new byte[] { 0x56, 0x02, 0xFF });
        var backToOne = await ReadAsync(one, 3);
        var nobody = await Assert.ThrowsAsync<TimeoutException>(() => vspc.OpenAsync("00000000-0000-0000-0000-000000000001", TimeSpan.FromMilliseconds(300), CancellationToken.None));

        Assert.Equal([0x56, 0x01, 0x02], fromFirst);
        Assert.Equal([0x56, 0x01, 0x03], fromSecond);
        Assert.Equal([0x56, 0x02, 0xFF], backToOne);
        Assert.Contains("00000000-0000-0000-0000-000000000001", nobody.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AVmxThatNeverSaysWhoItIsIsHungUpOn()
    {
        await using var vspc = new VspcListener(IPAddress.Loopback, 0, "vic/vch1", TimeSpan.FromMilliseconds(300));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, vspc.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("hello, no telnet here"));

        var buffer = new byte[64];
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int read;
        while ((read = await stream.ReadAsync(buffer, limit.Token)) > 0)
        {
        }

        Assert.Equal(0, read);
    }

    private static async Task<byte[]> ReadAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var got = 0;
        while (got < count)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(got), limit.Token);
            Assert.True(read > 0, "the stream ended");
            got += read;
        }

        return buffer;
    }

    /// <summary>An in-memory connection: the test plays the VMX at one end, the proxy reads and writes the other.</summary>
    private sealed class Duplex : IAsyncDisposable
    {
        private readonly Pipe _toProxy = new();
        private readonly Pipe _toVmx = new();

        public Duplex() => ProxyEnd = new DuplexStream(_toProxy.Reader.AsStream(), _toVmx.Writer.AsStream());

        public Stream ProxyEnd { get; }

        public async Task SendAsync(byte[] bytes) => await _toProxy.Writer.WriteAsync(bytes);

        public async Task<byte[]> ReceiveAsync(int count) => await ReadAsync(_toVmx.Reader.AsStream(), count);

        public async ValueTask DisposeAsync()
        {
            await _toProxy.Writer.CompleteAsync();
            await _toVmx.Writer.CompleteAsync();
        }
    }

    private sealed class DuplexStream(Stream input, Stream output) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => input.ReadAsync(buffer, cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => output.WriteAsync(buffer, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer, offset, count);

        public override Task FlushAsync(CancellationToken cancellationToken) => output.FlushAsync(cancellationToken);

        public override void Flush() => output.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
