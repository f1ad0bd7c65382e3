using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;

namespace Vic.Api.Hijack;

/// <summary>
/// Moves one HTTP/1.1 request's body from the client's connection to Kestrel's, by its framing
/// (Content-Length or chunked), so the next request's head can be looked at before Kestrel sees it.
/// Bytes are forwarded as they arrive: a body of any size passes with a pipe's worth of memory.
/// </summary>
public static class RequestFraming
{
    /// <summary>A chunk-size or trailer line longer than this is not HTTP we will frame.</summary>
    private const int MaxLineBytes = 8 * 1024;

    public enum Outcome
    {
        /// <summary>The whole body was forwarded; the next bytes are the next request.</summary>
        Forwarded,

        /// <summary>The framing made no sense: the caller should stop framing and let Kestrel answer.</summary>
        Unframed,

        /// <summary>The client or Kestrel went away mid-body.</summary>
        Ended,
    }

    /// <summary>Forwards the body that follows <paramref name="head"/> (already forwarded).</summary>
    public static async Task<Outcome> ForwardBodyAsync(RequestHead head, PipeReader input, PipeWriter output, CancellationToken cancellationToken)
    {
        if (head.IsChunked)
        {
            return head.ContentLength is null ? await ForwardChunkedAsync(input, output, cancellationToken).ConfigureAwait(false) : Outcome.Unframed;
        }

        return head.ContentLength switch
        {
            null or 0 => Outcome.Forwarded,
            < 0 => Outcome.Unframed,
            { } length => await ForwardExactlyAsync(input, output, length, cancellationToken).ConfigureAwait(false),
        };
    }

    /// <summary>Forwards exactly <paramref name="count"/> bytes.</summary>
    public static async Task<Outcome> ForwardExactlyAsync(PipeReader input, PipeWriter output, long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                return Outcome.Ended;
            }

            var take = result.Buffer.Slice(0, Math.Min(count, result.Buffer.Length));
            foreach (var segment in take)
            {
                output.Write(segment.Span);
            }

            input.AdvanceTo(take.End);
            count -= take.Length;
            var flushed = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCompleted || flushed.IsCanceled || (count > 0 && result.IsCompleted))
            {
                return Outcome.Ended;
            }
        }

        return Outcome.Forwarded;
    }

    /// <summary>Copies everything until the client or Kestrel ends: for what is not framed HTTP.</summary>
    public static async Task PassThroughAsync(PipeReader input, PipeWriter output, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                return;
            }

            foreach (var segment in result.Buffer)
            {
                output.Write(segment.Span);
            }

            input.AdvanceTo(result.Buffer.End);
            var flushed = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCompleted || flushed.IsCompleted || flushed.IsCanceled)
            {
                return;
            }
        }
    }

    private static async Task<Outcome> ForwardChunkedAsync(PipeReader input, PipeWriter output, CancellationToken cancellationToken)
    {
        while (true)
        {
            var (outcome, line) = await ForwardLineAsync(input, output, cancellationToken).ConfigureAwait(false);
            if (outcome != Outcome.Forwarded)
            {
                return outcome;
            }

            var semicolon = line.IndexOf(';', StringComparison.Ordinal);
            var sizeText = (semicolon < 0 ? line : line[..semicolon]).Trim();
            if (!long.TryParse(sizeText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
            {
                return Outcome.Unframed;
            }

            if (size == 0)
            {
                // Trailers, if any, then the empty line that ends the body.
                while (true)
                {
                    (outcome, line) = await ForwardLineAsync(input, output, cancellationToken).ConfigureAwait(false);
                    if (outcome != Outcome.Forwarded || line.Length == 0)
                    {
                        return outcome;
                    }
                }
            }

            outcome = await ForwardExactlyAsync(input, output, size + 2, cancellationToken).ConfigureAwait(false);
            if (outcome != Outcome.Forwarded)
            {
                return outcome;
            }
        }
    }

    /// <summary>Forwards one CRLF-ended line and returns it without the CRLF.</summary>
    private static async Task<(Outcome Outcome, string Line)> ForwardLineAsync(PipeReader input, PipeWriter output, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                return (Outcome.Ended, "");
            }

            var buffer = result.Buffer;
            if (buffer.PositionOf((byte)'\n') is { } newline)
            {
                var lineWithEnd = buffer.Slice(0, buffer.GetPosition(1, newline));
                var text = System.Text.Encoding.Latin1.GetString(lineWithEnd.ToArray());
                foreach (var segment in lineWithEnd)
                {
                    output.Write(segment.Span);
                }

                input.AdvanceTo(lineWithEnd.End);
                var flushed = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                return flushed.IsCompleted || flushed.IsCanceled ? (Outcome.Ended, "") : (Outcome.Forwarded, text.TrimEnd('\r', '\n'));
            }

            if (buffer.Length > MaxLineBytes)
            {
                // Not consumed: whoever reads next (Kestrel) sees these bytes and refuses them.
                input.AdvanceTo(buffer.Start);
                return (Outcome.Unframed, "");
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return (Outcome.Ended, "");
            }
        }
    }
}
