using System.Buffers.Binary;
using Vic.Api.Versioning;
using Vic.PortLayer.Runtime;

namespace Vic.Api.ContainersApi;

/// <summary>
/// Docker's stdio stream framing: without a TTY every chunk is prefixed with 8 bytes (stream 1 or 2,
/// three zeros, big-endian length) so stdout and stderr can share one connection; with a TTY the
/// bytes go raw.
/// </summary>
public static class StdStreams
{
    public const string MultiplexedContentType = "application/vnd.docker.multiplexed-stream";
    public const string RawContentType = "application/vnd.docker.raw-stream";

    /// <summary>
    /// The type a stream is answered with, as dockerd names it: the multiplexed type only from API
    /// 1.42 on; before, raw-stream whatever the framing (clients tell the framing from the Tty).
    /// </summary>
    public static string ContentType(bool tty, ApiVersion version) =>
        !tty && version >= new ApiVersion(1, 42) ? MultiplexedContentType : RawContentType;

    /// <param name="flush">False leaves the bytes buffered, so chunks that came together leave in one packet (a TTY's "hello" and its "\r\n" are two reads of the pty).</param>
    public static async Task WriteAsync(Stream target, OutputChunk chunk, bool tty, CancellationToken cancellationToken, bool flush = true)
    {
        if (!tty)
        {
            var header = new byte[8];
            header[0] = (byte)chunk.Stream;
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)chunk.Data.Length);
            await target.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        }

        await target.WriteAsync(chunk.Data, cancellationToken).ConfigureAwait(false);
        if (flush)
        {
            await target.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
