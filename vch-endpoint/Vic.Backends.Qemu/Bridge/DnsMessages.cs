using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Vic.Backends.Qemu.Bridge;

/// <summary>The DNS (RFC 1035) the bridge speaks: read a one-question query, write its answer.</summary>
internal static class DnsMessages
{
    public const ushort TypeA = 1;
    public const ushort TypeAaaa = 28;
    public const byte NoError = 0;
    public const byte ServerFailure = 2;
    public const byte NameError = 3;

    /// <summary>The question of a standard query, or null if the message is not one we can answer.</summary>
    public static (string Name, ushort Type, int QuestionEnd)? QuestionOf(ReadOnlySpan<byte> message)
    {
        if (message.Length < 12 || (message[2] & 0x80) != 0 || (message[2] & 0x78) != 0 || BinaryPrimitives.ReadUInt16BigEndian(message[4..]) != 1)
        {
            return null;
        }

        var labels = new List<string>();
        var at = 12;
        while (true)
        {
            if (at >= message.Length)
            {
                return null;
            }

            int length = message[at++];
            if (length == 0)
            {
                break;
            }

            if (length > 63 || at + length > message.Length)
            {
                return null; // compression pointers have no place in a question
            }

            labels.Add(Encoding.ASCII.GetString(message.Slice(at, length)));
            at += length;
        }

        if (at + 4 > message.Length)
        {
            return null;
        }

        return (string.Join('.', labels), BinaryPrimitives.ReadUInt16BigEndian(message[at..]), at + 4);
    }

    /// <summary>
    /// The answer to <paramref name="query"/>: the question echoed, and an A record (an AAAA record
    /// for an IPv6 address) for <paramref name="address"/> when there is one. A name without an
    /// address of the asked-for kind gets no records, so the client does not wait for one.
    /// </summary>
    public static byte[] Answer(ReadOnlySpan<byte> query, int questionEnd, IPAddress? address, byte responseCode)
    {
        var withRecord = address is not null;
        var data = address?.GetAddressBytes() ?? [];
        var answer = new byte[questionEnd + (withRecord ? 12 + data.Length : 0)];
        query[..questionEnd].CopyTo(answer);
        answer[2] = (byte)(0x80 | (query[2] & 0x01) | 0x04); // response, recursion desired echoed, authoritative
        answer[3] = (byte)(0x80 | responseCode); // recursion available
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(6), (ushort)(withRecord ? 1 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(8), 0);
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(10), 0);
        if (withRecord)
        {
            var record = answer.AsSpan(questionEnd);
            BinaryPrimitives.WriteUInt16BigEndian(record, 0xC00C); // the name: a pointer to the question's
            BinaryPrimitives.WriteUInt16BigEndian(record[2..], data.Length == 16 ? TypeAaaa : TypeA);
            BinaryPrimitives.WriteUInt16BigEndian(record[4..], 1); // class IN
            BinaryPrimitives.WriteUInt32BigEndian(record[6..], 0); // TTL 0: containers come and go
            BinaryPrimitives.WriteUInt16BigEndian(record[10..], (ushort)data.Length);
            data.CopyTo(record[12..]);
        }

        return answer;
    }
}
