using System.Net.Sockets;
using System.Text;
using Vic.Backends.Vsphere.Vspc;

namespace Vic.TestSupport;

/// <summary>
/// What a VMX does with a VM's network-backed serial port at power-on: it connects to the port's
/// <c>tcp://</c> URI, or, when the backing names a vSPC proxy (<c>telnet://</c>), connects there,
/// negotiates VMware's telnet extension, says which VM it speaks for (its instance UUID, as
/// <c>VM-VC-UUID</c>) and asks the proxy to serve the port's service URI.
/// </summary>
public static class VmxSerialPort
{
    public static async Task<Stream> ConnectAsync(string serviceUri, string? proxyUri, string instanceUuid, CancellationToken cancellationToken)
    {
        var uri = new Uri(proxyUri ?? serviceUri);
        var client = new TcpClient { NoDelay = true };
        try
        {
            await client.ConnectAsync(uri.Host, uri.Port, cancellationToken).ConfigureAwait(false);
            if (proxyUri is null)
            {
                return client.GetStream();
            }

            var line = new VmxTelnetStream(client.GetStream());
            await line.NegotiateAsync(serviceUri, instanceUuid, cancellationToken).ConfigureAwait(false);
            return line;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>A UUID the way a VMX sends it: 16 hex bytes, spaces between, a dash after the eighth.</summary>
    public static string VmxUuid(string uuid)
    {
        var hex = new string([.. uuid.Where(Uri.IsHexDigit)]).ToLowerInvariant();
        var bytes = Enumerable.Range(0, hex.Length / 2).Select(i => hex.Substring(i * 2, 2)).ToList();
        return string.Join(' ', bytes.Take(8)) + "-" + string.Join(' ', bytes.Skip(8));
    }

    /// <summary>The VMX's end of a vSPC connection: negotiation, then the serial line's bytes with telnet's escaping.</summary>
    private sealed class VmxTelnetStream(NetworkStream tcp) : Stream
    {
        private readonly TelnetDecoder _decoder = new();
        private readonly List<byte> _data = [];
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _offset;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public async Task NegotiateAsync(string serviceUri, string instanceUuid, CancellationToken cancellationToken)
        {
            await tcp.WriteAsync(new byte[] { Telnet.Iac, Telnet.Will, Telnet.Binary, Telnet.Iac, Telnet.Do, Telnet.Binary, Telnet.Iac, Telnet.Will, Telnet.SuppressGoAhead, Telnet.Iac, Telnet.Will, Telnet.VmwareExtension }, cancellationToken).ConfigureAwait(false);
            var commands = new List<TelnetCommand>();
            while (true)
            {
                var read = await tcp.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException("the vSPC hung up during negotiation");
                }

                commands.Clear();
                _decoder.Decode(_buffer.AsSpan(0, read), _data, commands);
                foreach (var command in commands)
                {
                    if (command is { Verb: Telnet.Do, Option: Telnet.VmwareExtension })
                    {
                        await tcp.WriteAsync(Telnet.Subnegotiation(Telnet.KnownSuboptions1, [Telnet.KnownSuboptions1, Telnet.KnownSuboptions2, Telnet.DoProxy, Telnet.WillProxy, Telnet.WontProxy, Telnet.VmVcUuid, Telnet.GetVmVcUuid]), cancellationToken).ConfigureAwait(false);
                    }
                    else if (command is { Verb: Telnet.Sb, Option: Telnet.VmwareExtension, Payload: [Telnet.KnownSuboptions2, ..] })
                    {
                        await tcp.WriteAsync(Telnet.Subnegotiation(Telnet.DoProxy, Encoding.ASCII.GetBytes("S" + serviceUri)), cancellationToken).ConfigureAwait(false);
                    }
                    else if (command is { Verb: Telnet.Sb, Option: Telnet.VmwareExtension, Payload: [Telnet.GetVmVcUuid, ..] })
                    {
                        await tcp.WriteAsync(Telnet.Subnegotiation(Telnet.VmVcUuid, Encoding.ASCII.GetBytes(VmxUuid(instanceUuid))), cancellationToken).ConfigureAwait(false);
                    }
                    else if (command is { Verb: Telnet.Sb, Option: Telnet.VmwareExtension, Payload: [Telnet.WontProxy, ..] })
                    {
                        throw new IOException($"the vSPC will not proxy {serviceUri}");
                    }
                    else if (command is { Verb: Telnet.Sb, Option: Telnet.VmwareExtension, Payload: [Telnet.WillProxy, ..] })
                    {
                        return;
                    }
                }
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_offset == _data.Count)
            {
                _data.Clear();
                _offset = 0;
                var read = await tcp.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return 0;
                }

                _decoder.Decode(_buffer.AsSpan(0, read), _data, []);
            }

            var count = Math.Min(buffer.Length, _data.Count - _offset);
            for (var i = 0; i < count; i++)
            {
                buffer.Span[i] = _data[_offset + i];
            }

            _offset += count;
            return count;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => tcp.WriteAsync(Telnet.Escape(buffer.Span), cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                tcp.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
