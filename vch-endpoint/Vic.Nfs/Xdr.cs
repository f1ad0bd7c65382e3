using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Vic.Nfs;

/// <summary>XDR (RFC 4506) encoding: big-endian 4-byte units, opaques padded to a multiple of four.</summary>
public sealed class XdrWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new();

    public XdrWriter UInt32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        _buffer.Write(bytes);
        return this;
    }

    public XdrWriter UInt64(ulong value) => UInt32((uint)(value >> 32)).UInt32((uint)value);

    public XdrWriter Bool(bool value) => UInt32(value ? 1u : 0u);

    /// <summary>Variable-length opaque: length, bytes, padding.</summary>
    public XdrWriter Opaque(ReadOnlySpan<byte> bytes)
    {
        UInt32((uint)bytes.Length);
        return FixedOpaque(bytes);
    }

    /// <summary>Fixed-length opaque: bytes and padding, no length.</summary>
    public XdrWriter FixedOpaque(ReadOnlySpan<byte> bytes)
    {
        _buffer.Write(bytes);
        _buffer.Write(new byte[(4 - (bytes.Length % 4)) % 4]);
        return this;
    }

    public XdrWriter String(string value) => Opaque(Encoding.UTF8.GetBytes(value));

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
}

/// <summary>XDR decoding; a short or malformed message is a <see cref="NfsProtocolException"/>, never a crash.</summary>
public sealed class XdrReader(ReadOnlyMemory<byte> data)
{
    private int _offset;

    public bool AtEnd => _offset >= data.Length;

    public uint UInt32()
    {
        var bytes = Take(4);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes.Span);
    }

    public ulong UInt64() => ((ulong)UInt32() << 32) | UInt32();

    public bool Bool() => UInt32() != 0;

    public ReadOnlyMemory<byte> Opaque(int limit = 1 << 20)
    {
        var length = UInt32();
        if (length > limit)
        {
            throw new NfsProtocolException($"an opaque of {length} bytes is more than the {limit} allowed");
        }

        return FixedOpaque((int)length);
    }

    public ReadOnlyMemory<byte> FixedOpaque(int length)
    {
        var bytes = Take(length);
        Take((4 - (length % 4)) % 4);
        return bytes;
    }

    public string String() => Encoding.UTF8.GetString(Opaque(4096).Span);

    private ReadOnlyMemory<byte> Take(int count)
    {
        if (count < 0 || _offset + count > data.Length)
        {
            throw new NfsProtocolException("the reply ends in the middle of a field");
        }

        var slice = data.Slice(_offset, count);
        _offset += count;
        return slice;
    }
}

/// <summary>The server's reply cannot be understood (truncated, garbage, or not NFSv4).</summary>
public sealed class NfsProtocolException(string message) : IOException(message);

/// <summary>The server refused an operation; <see cref="Status"/> is the nfsstat4 code (e.g. 2 NFS4ERR_NOENT).</summary>
public sealed class NfsException(string operation, uint status) : IOException($"NFS {operation} failed: {NameOf(status)} ({status})")
{
    public uint Status { get; } = status;

    public const uint NoEntry = 2;
    public const uint Access = 13;
    public const uint Exists = 17;
    public const uint NotEmpty = 66;

    private static string NameOf(uint status) => status switch
    {
        1 => "NFS4ERR_PERM",
        NoEntry => "NFS4ERR_NOENT",
        5 => "NFS4ERR_IO",
        Access => "NFS4ERR_ACCESS",
        Exists => "NFS4ERR_EXIST",
        20 => "NFS4ERR_NOTDIR",
        21 => "NFS4ERR_ISDIR",
        28 => "NFS4ERR_NOSPC",
        30 => "NFS4ERR_ROFS",
        NotEmpty => "NFS4ERR_NOTEMPTY",
        10006 => "NFS4ERR_SERVERFAULT",
        10021 => "NFS4ERR_WRONGSEC",
        _ => "NFS4ERR",
    };
}
