using System.Buffers.Binary;

namespace Vic.Interaction;

/// <summary>
/// The wire form of a frame, 10 header bytes then the payload:
/// <code>
/// 0      magic 0x56 ('V')
/// 1      type (FrameType)
/// 2..5   session, big-endian
/// 6..9   payload length, big-endian, at most MaxPayload
/// </code>
/// The magic byte lets either side tell garbage (a console message on the wrong port, a torn
/// restore) from a frame at once instead of reading a huge bogus length.
/// </summary>
public static class FrameCodec
{
    public const byte Magic = 0x56;
    public const int HeaderLength = 10;

    /// <summary>1 MiB: stdio is chunked far below this; a bigger length is corruption.</summary>
    public const int MaxPayload = 1 << 20;

    public static void WriteHeader(Span<byte> header, FrameType type, uint session, int payloadLength)
    {
        if (payloadLength is < 0 or > MaxPayload)
        {
            throw new ArgumentOutOfRangeException(nameof(payloadLength), $"payload of {payloadLength} bytes exceeds {MaxPayload}");
        }

        header[0] = Magic;
        header[1] = (byte)type;
        BinaryPrimitives.WriteUInt32BigEndian(header[2..], session);
        BinaryPrimitives.WriteInt32BigEndian(header[6..], payloadLength);
    }

    public static byte[] Encode(Frame frame)
    {
        var bytes = new byte[HeaderLength + frame.Payload.Length];
        WriteHeader(bytes, frame.Type, frame.Session, frame.Payload.Length);
        frame.Payload.Span.CopyTo(bytes.AsSpan(HeaderLength));
        return bytes;
    }

    /// <summary>Validates a header; returns the type, session and payload length it announces.</summary>
    public static (FrameType Type, uint Session, int Length) ReadHeader(ReadOnlySpan<byte> header)
    {
        if (header[0] != Magic)
        {
            throw new ProtocolException($"bad frame magic 0x{header[0]:x2}");
        }

        var type = (FrameType)header[1];
        if (!Enum.IsDefined(type))
        {
            throw new ProtocolException($"unknown frame type 0x{header[1]:x2}");
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(header[6..]);
        if (length is < 0 or > MaxPayload)
        {
            throw new ProtocolException($"frame payload length {length} out of range");
        }

        return (type, BinaryPrimitives.ReadUInt32BigEndian(header[2..]), length);
    }
}
