namespace Vic.Backends.Vsphere.Vspc;

/// <summary>The telnet bytes (RFC 854, 856, 858) and VMware's extension (option 232) a VMX speaks to a vSPC.</summary>
public static class Telnet
{
    public const byte Se = 240;
    public const byte Sb = 250;
    public const byte Will = 251;
    public const byte Wont = 252;
    public const byte Do = 253;
    public const byte Dont = 254;
    public const byte Iac = 255;

    public const byte Binary = 0;
    public const byte SuppressGoAhead = 3;
    public const byte VmwareExtension = 232;

    // VMware's sub-options, from "Using a Proxy with Virtual Serial Ports" (vSphere SDK).
    public const byte KnownSuboptions1 = 0;
    public const byte KnownSuboptions2 = 1;
    public const byte UnknownSuboptionReceived1 = 2;
    public const byte UnknownSuboptionReceived2 = 3;
    public const byte VmotionBegin = 40;
    public const byte VmotionGoahead = 41;
    public const byte VmotionNotNow = 43;
    public const byte VmotionPeer = 44;
    public const byte VmotionPeerOk = 45;
    public const byte VmotionComplete = 46;
    public const byte VmotionAbort = 48;
    public const byte DoProxy = 70;
    public const byte WillProxy = 71;
    public const byte WontProxy = 73;
    public const byte VmVcUuid = 80;
    public const byte GetVmVcUuid = 81;
    public const byte VmName = 82;
    public const byte GetVmName = 83;

    /// <summary>The sub-options the proxy end understands, as it lists them in KNOWN-SUBOPTIONS-2.</summary>
    public static readonly byte[] ProxySuboptions =
    [
        KnownSuboptions1, KnownSuboptions2, UnknownSuboptionReceived1, UnknownSuboptionReceived2,
        VmotionBegin, VmotionGoahead, VmotionNotNow, VmotionPeer, VmotionPeerOk, VmotionComplete, VmotionAbort,
        DoProxy, WillProxy, WontProxy, VmVcUuid, GetVmVcUuid, VmName, GetVmName,
    ];

    /// <summary><c>IAC SB 232 sub-option payload IAC SE</c>, with any 255 in the payload doubled.</summary>
    public static byte[] Subnegotiation(byte suboption, ReadOnlySpan<byte> payload)
    {
        var bytes = new List<byte>(payload.Length + 6) { Iac, Sb, VmwareExtension, suboption };
        foreach (var b in payload)
        {
            bytes.Add(b);
            if (b == Iac)
            {
                bytes.Add(Iac);
            }
        }

        bytes.AddRange([Iac, Se]);
        return [.. bytes];
    }

    /// <summary>Data as it goes on the wire: every 255 doubled, so it is never taken for a command.</summary>
    public static byte[] Escape(ReadOnlySpan<byte> data)
    {
        var count = data.Count(Iac);
        if (count == 0)
        {
            return data.ToArray();
        }

        var escaped = new byte[data.Length + count];
        var j = 0;
        foreach (var b in data)
        {
            escaped[j++] = b;
            if (b == Iac)
            {
                escaped[j++] = Iac;
            }
        }

        return escaped;
    }
}

/// <summary>A telnet command: a negotiation (<c>WILL/WONT/DO/DONT option</c>) or a sub-negotiation (<c>SB option payload SE</c>).</summary>
public sealed record TelnetCommand(byte Verb, byte Option, byte[] Payload);

/// <summary>
/// Splits a telnet byte stream into data and commands. It keeps its state between calls, so a
/// command or a doubled 255 cut in two by a read is put back together.
/// </summary>
public sealed class TelnetDecoder
{
    // A sub-negotiation longer than this is not one a VMX sends: the stream is not telnet.
    private const int MaxSubnegotiation = 4096;

    private readonly List<byte> _sub = [];
    private State _state;
    private byte _verb;

    private enum State
    {
        Data,
        Iac,
        Option,
        Sub,
        SubIac,
    }

    /// <summary>Decodes <paramref name="input"/>: data goes to <paramref name="data"/>, commands to <paramref name="commands"/>.</summary>
    public void Decode(ReadOnlySpan<byte> input, List<byte> data, List<TelnetCommand> commands)
    {
        foreach (var b in input)
        {
            switch (_state)
            {
                case State.Data:
                    if (b == Telnet.Iac)
                    {
                        _state = State.Iac;
                    }
                    else
                    {
                        data.Add(b);
                    }

                    break;
                case State.Iac:
                    _state = b switch
                    {
                        Telnet.Iac => State.Data,
                        Telnet.Will or Telnet.Wont or Telnet.Do or Telnet.Dont or Telnet.Sb => State.Option,
                        _ => State.Data, // NOP, GA and the like carry nothing for a serial line.
                    };
                    if (b == Telnet.Iac)
                    {
                        data.Add(b);
                    }

                    _verb = b;
                    break;
                case State.Option:
                    if (_verb == Telnet.Sb)
                    {
                        _sub.Clear();
                        _sub.Add(b);
                        _state = State.Sub;
                    }
                    else
                    {
                        commands.Add(new TelnetCommand(_verb, b, []));
                        _state = State.Data;
                    }

                    break;
                case State.Sub:
                    if (b == Telnet.Iac)
                    {
                        _state = State.SubIac;
                    }
                    else if (_sub.Count < MaxSubnegotiation)
                    {
                        _sub.Add(b);
                    }
                    else
                    {
                        throw new InvalidDataException("a telnet sub-negotiation longer than 4096 bytes");
                    }

                    break;
                case State.SubIac:
                    if (b == Telnet.Se)
                    {
                        commands.Add(new TelnetCommand(Telnet.Sb, _sub[0], [.. _sub.Skip(1)]));
                        _state = State.Data;
                    }
                    else if (b == Telnet.Iac && _sub.Count < MaxSubnegotiation)
                    {
                        _sub.Add(b); // IAC IAC inside a sub-negotiation is a 255 of its payload.
                        _state = State.Sub;
                    }
                    else if (b == Telnet.Iac)
                    {
                        throw new InvalidDataException("a telnet sub-negotiation longer than 4096 bytes");
                    }
                    else
                    {
                        // An IAC that neither doubles a 255 nor ends the sub-negotiation starts a
                        // command (RFC 854): the unfinished sub-negotiation is dropped.
                        _verb = b;
                        _state = b is Telnet.Will or Telnet.Wont or Telnet.Do or Telnet.Dont or Telnet.Sb ? State.Option : State.Data;
                    }

                    break;
            }
        }
    }
}
