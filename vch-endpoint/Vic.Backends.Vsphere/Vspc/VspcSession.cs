using System.Text;

namespace Vic.Backends.Vsphere.Vspc;

/// <summary>
/// The proxy end of one VMX's connection to the VCH's virtual serial port concentrator. It answers
/// the VMX's telnet negotiation, learns which VM the VMX speaks for (VM-VC-UUID: the VM's instance
/// UUID, an instant clone's own and not its parent's) and which port it serves (DO-PROXY's service
/// URI), then carries the serial line's bytes both ways with telnet's escaping taken off and put on.
/// Negotiation that comes later (a vMotion's) is answered as it is read.
/// </summary>
internal sealed class VspcSession : Stream
{
    private readonly Stream _tcp;
    private readonly Func<string, bool> _serves;
    private readonly TelnetDecoder _decoder = new();
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly List<byte> _data = [];
    private readonly List<TelnetCommand> _commands = [];
    private readonly HashSet<(byte Verb, byte Option)> _answered = [];
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _dataOffset;
    private bool _proxying;

    private VspcSession(Stream tcp, Func<string, bool> serves)
    {
        _tcp = tcp;
        _serves = serves;
    }

    /// <summary>The VM's instance UUID as the VMX gave it: 32 lower-case hex digits.</summary>
    public string VmUuid { get; private set; } = "";

    public string ServiceUri { get; private set; } = "";

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>
    /// Negotiates until the VMX has said which VM it is and the proxying of a port this concentrator
    /// serves (<paramref name="serves"/>) is agreed; the guest's bytes read meanwhile are kept.
    /// </summary>
    public static async Task<VspcSession> AcceptAsync(Stream tcp, Func<string, bool> serves, CancellationToken cancellationToken)
    {
        var session = new VspcSession(tcp, serves);
        await session.OpenNegotiationAsync(cancellationToken).ConfigureAwait(false);
        while (session.VmUuid.Length == 0 || !session._proxying)
        {
            if (!await session.FillAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new EndOfStreamException("the VMX closed its vSPC connection before it said which VM it speaks for");
            }
        }

        return session;
    }

    /// <summary>A UUID as vSphere writes it (<c>5029c2f6-...</c>) or as a VMX sends it (<c>50 29 c2 f6 ...-...</c>), in one form.</summary>
    public static string NormalizeUuid(string uuid) => new([.. uuid.Where(Uri.IsHexDigit).Select(char.ToLowerInvariant)]);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_dataOffset == _data.Count)
        {
            _data.Clear();
            _dataOffset = 0;
            if (!await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }
        }

        var count = Math.Min(buffer.Length, _data.Count - _dataOffset);
        for (var i = 0; i < count; i++)
        {
            buffer.Span[i] = _data[_dataOffset + i];
        }

        _dataOffset += count;
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        SendAsync(Telnet.Escape(buffer.Span), cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => _tcp.FlushAsync(cancellationToken);

    public override void Flush() => _tcp.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _tcp.Dispose();
            _writing.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// The proxy speaks first, as vSPC servers do: an 8-bit line both ways without go-aheads, and
    /// VMware's extension. The VMX's own offers of the same are then answers, not requests.
    /// </summary>
    private async Task OpenNegotiationAsync(CancellationToken cancellationToken)
    {
        await SendAsync(
            [Telnet.Iac, Telnet.Will, Telnet.Binary, Telnet.Iac, Telnet.Do, Telnet.Binary, Telnet.Iac, Telnet.Will, Telnet.SuppressGoAhead, Telnet.Iac, Telnet.Do, Telnet.SuppressGoAhead, Telnet.Iac, Telnet.Do, Telnet.VmwareExtension],
            cancellationToken).ConfigureAwait(false);
        _answered.UnionWith([(Telnet.Do, Telnet.Binary), (Telnet.Will, Telnet.Binary), (Telnet.Do, Telnet.SuppressGoAhead), (Telnet.Will, Telnet.SuppressGoAhead), (Telnet.Will, Telnet.VmwareExtension)]);
    }

    /// <summary>Reads once: data joins what is waiting to be read, commands are answered. False at the end of the stream.</summary>
    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        var read = await _tcp.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            return false;
        }

        _commands.Clear();
        _decoder.Decode(_buffer.AsSpan(0, read), _data, _commands);
        foreach (var command in _commands)
        {
            await AnswerAsync(command, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    private async Task AnswerAsync(TelnetCommand command, CancellationToken cancellationToken)
    {
        switch (command.Verb)
        {
            // A request is answered once (RFC 1143): answering our own answer's echo would loop.
            case Telnet.Will when _answered.Add((Telnet.Will, command.Option)):
                var wanted = command.Option is Telnet.Binary or Telnet.SuppressGoAhead or Telnet.VmwareExtension;
                await SendAsync([Telnet.Iac, wanted ? Telnet.Do : Telnet.Dont, command.Option], cancellationToken).ConfigureAwait(false);
                break;
            case Telnet.Do when _answered.Add((Telnet.Do, command.Option)):
                var offered = command.Option is Telnet.Binary or Telnet.SuppressGoAhead;
                await SendAsync([Telnet.Iac, offered ? Telnet.Will : Telnet.Wont, command.Option], cancellationToken).ConfigureAwait(false);
                break;
            case Telnet.Sb when command.Option == Telnet.VmwareExtension && command.Payload.Length > 0:
                await AnswerVmwareAsync(command.Payload[0], command.Payload.AsMemory(1), cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    private async Task AnswerVmwareAsync(byte suboption, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        switch (suboption)
        {
            case Telnet.KnownSuboptions1:
                await SendAsync(Telnet.Subnegotiation(Telnet.KnownSuboptions2, Telnet.ProxySuboptions), cancellationToken).ConfigureAwait(false);
                await SendAsync(Telnet.Subnegotiation(Telnet.GetVmVcUuid, []), cancellationToken).ConfigureAwait(false);
                break;
            case Telnet.DoProxy:
                // 'S': the VM's port is the server end, which a port proxied through a vSPC must be.
                ServiceUri = payload.Length > 1 ? Encoding.ASCII.GetString(payload.Span[1..]) : "";
                _proxying = payload.Length > 1 && payload.Span[0] == (byte)'S' && _serves(ServiceUri);
                await SendAsync(Telnet.Subnegotiation(_proxying ? Telnet.WillProxy : Telnet.WontProxy, []), cancellationToken).ConfigureAwait(false);
                if (!_proxying)
                {
                    throw new InvalidDataException($"a VMX asked this vSPC to proxy {ServiceUri} ({(payload.Length > 0 ? (char)payload.Span[0] : '?')}), a port it does not serve");
                }

                break;
            case Telnet.VmVcUuid:
                VmUuid = NormalizeUuid(Encoding.ASCII.GetString(payload.Span));
                break;
            case Telnet.VmotionBegin:
                // The VM moves to another host: its new VMX connects with this sequence and secret.
                await SendAsync(Telnet.Subnegotiation(Telnet.VmotionGoahead, [.. payload.Span, .. System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)]), cancellationToken).ConfigureAwait(false);
                break;
            case Telnet.VmotionPeer:
                await SendAsync(Telnet.Subnegotiation(Telnet.VmotionPeerOk, payload.Span), cancellationToken).ConfigureAwait(false);
                break;
            case Telnet.KnownSuboptions2 or Telnet.UnknownSuboptionReceived2 or Telnet.VmotionComplete or Telnet.VmotionAbort or Telnet.VmName or Telnet.UnknownSuboptionReceived1:
                break;
            default:
                await SendAsync(Telnet.Subnegotiation(Telnet.UnknownSuboptionReceived2, [suboption]), cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    private async ValueTask SendAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _tcp.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }
}
