using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Vic.Api.ContainersApi;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;

namespace Vic.Api.Hijack;

/// <summary>
/// Serves the hijacked Docker calls below Kestrel's HTTP layer, on the raw connection. Kestrel
/// ignores an upgrade when a request has a body (exec start has one) and treats the client's
/// half-close as an abort, while Docker needs both: the CLI sends a body with Upgrade, and a
/// half-close means "stdin is done" while it keeps reading. Every other connection passes on
/// untouched: the head is only peeked at.
/// </summary>
public sealed partial class HijackConnectionMiddleware(ConnectionDelegate next, VchEngine engine, ILogger<HijackConnectionMiddleware> logger)
{
    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        HijackRequest? request = null;
        while (true)
        {
            var result = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
            request = HijackRequest.TryParse(result.Buffer, out var complete);
            if (complete || result.IsCompleted)
            {
                // Peeked, not consumed: Kestrel reads the same bytes if this is not ours.
                input.AdvanceTo(result.Buffer.Start);
                break;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }

        if (request?.AttachContainer is { } container)
        {
            await SkipHeadAndBodyAsync(input, request, connection.ConnectionClosed).ConfigureAwait(false);
            await AttachAsync(connection, request, container).ConfigureAwait(false);
        }
        else if (request?.ExecStart is { } exec)
        {
            var body = await ReadHeadAndBodyAsync(input, request, connection.ConnectionClosed).ConfigureAwait(false);
            await ExecStartAsync(connection, request, exec, body).ConfigureAwait(false);
        }
        else
        {
            await next(connection).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// <c>POST /exec/{id}/start</c>: starts the session and, unless detached, turns the connection
    /// into its stdio; the exit code is set before the stream closes.
    /// </summary>
    private async Task ExecStartAsync(ConnectionContext connection, HijackRequest request, string execId, byte[] body)
    {
        var output = connection.Transport.Output;
        var detach = false;
        try
        {
            if (body.Length > 0)
            {
                using var json = JsonDocument.Parse(body);
                detach = json.RootElement.TryGetProperty("Detach", out var d) && d.ValueKind == JsonValueKind.True;
            }

            var exec = engine.Runtime.Exec(execId);
            await engine.Runtime.StartExecAsync(execId, connection.ConnectionClosed).ConfigureAwait(false);
            if (detach)
            {
                await output.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nApi-Version: 1.47\r\n\r\n")).ConfigureAwait(false);
                await output.CompleteAsync().ConfigureAwait(false);
                return;
            }

            var tty = exec.Options.Tty;
            var contentType = tty ? StdStreams.RawContentType : StdStreams.MultiplexedContentType;
            var head = request.WantsUpgrade
                ? $"HTTP/1.1 101 UPGRADED\r\nContent-Type: {contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: 1.47\r\n\r\n"
                : $"HTTP/1.1 200 OK\r\nContent-Type: {contentType}\r\nApi-Version: 1.47\r\n\r\n";
            await output.WriteAsync(Encoding.ASCII.GetBytes(head)).ConfigureAwait(false);
            var streams = new AttachedStreams(exec.Output, tty, exec.WriteStdinAsync, exec.CloseStdinAsync);
            await RelayAsync(connection, streams, exec.Options.AttachStdin, exec.Options.AttachStdout, exec.Options.AttachStderr).ConfigureAwait(false);
        }
        catch (PortLayerException ex)
        {
            await WriteErrorAsync(output, ex).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            await WriteErrorAsync(output, PortLayerException.InvalidParameter($"invalid JSON: {ex.Message}")).ConfigureAwait(false);
        }
    }

    private async Task AttachAsync(ConnectionContext connection, HijackRequest request, string container)
    {
        var output = connection.Transport.Output;
        AttachedStreams streams;
        try
        {
            streams = engine.Runtime.Attach(container);
        }
        catch (PortLayerException ex)
        {
            await WriteErrorAsync(output, ex).ConfigureAwait(false);
            return;
        }

        var contentType = streams.Tty ? StdStreams.RawContentType : StdStreams.MultiplexedContentType;
        var head = request.WantsUpgrade
            ? $"HTTP/1.1 101 UPGRADED\r\nContent-Type: {contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: 1.47\r\n\r\n"
            : $"HTTP/1.1 200 OK\r\nContent-Type: {contentType}\r\nApi-Version: 1.47\r\n\r\n";
        await output.WriteAsync(Encoding.ASCII.GetBytes(head)).ConfigureAwait(false);
        Log.Attached(logger, container, request.WantsUpgrade);

        var keys = DetachKeys.Parse(request.Query.TryGetValue("detachKeys", out var given) ? given : null);
        await RelayAsync(connection, streams, IsTrue(request.Query, "stdin"), IsTrue(request.Query, "stdout"), IsTrue(request.Query, "stderr"), keys).ConfigureAwait(false);
    }

    /// <summary>Copies output to the client until it ends, and the client's bytes to stdin until it half-closes.</summary>
    private static async Task RelayAsync(ConnectionContext connection, AttachedStreams streams, bool wantStdin, bool stdout, bool stderr, DetachKeys? detachKeys = null)
    {
        var output = connection.Transport.Output;
        var detached = new CancellationTokenSource();
        var stdin = wantStdin ? Task.Run(() => PumpStdinAsync(connection.Transport.Input, streams, detachKeys, detached)) : Task.CompletedTask;
        var stream = output.AsStream(leaveOpen: true);
        try
        {
            await foreach (var chunk in streams.Output.ReadAllAsync(detached.Token).ConfigureAwait(false))
            {
                if ((chunk.Stream == OutputStream.Stdout && stdout) || (chunk.Stream == OutputStream.Stderr && stderr))
                {
                    await StdStreams.WriteAsync(stream, chunk, streams.Tty, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ConnectionResetException or OperationCanceledException)
        {
            // The client went away or detached; the container carries on.
        }

        // The process ended (or the client detached): closing the stream is how the client learns it.
        await output.CompleteAsync().ConfigureAwait(false);
        _ = stdin;
    }

    private static async Task PumpStdinAsync(PipeReader input, AttachedStreams streams, DetachKeys? detachKeys, CancellationTokenSource detached)
    {
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    var (forward, detach) = detachKeys is null ? (segment.ToArray(), false) : detachKeys.Scan(segment.Span);
                    if (forward.Length > 0)
                    {
                        await streams.WriteStdin(forward).ConfigureAwait(false);
                    }

                    if (detach)
                    {
                        // The client leaves; the container's stdin stays open for the next one.
                        input.AdvanceTo(result.Buffer.End);
                        await detached.CancelAsync().ConfigureAwait(false);
                        return;
                    }
                }

                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            // The client half-closed: stdin is at its end.
            await streams.CloseStdin().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ConnectionResetException or OperationCanceledException)
        {
        }
    }

    private static async Task<byte[]> ReadHeadAndBodyAsync(PipeReader input, HijackRequest request, CancellationToken cancellationToken)
    {
        var total = request.HeadLength + request.ContentLength;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.Buffer.Length >= total || result.IsCompleted)
            {
                var available = Math.Min(total, result.Buffer.Length);
                var body = result.Buffer.Slice(request.HeadLength, available - request.HeadLength).ToArray();
                input.AdvanceTo(result.Buffer.GetPosition(available));
                return body;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private static async Task SkipHeadAndBodyAsync(PipeReader input, HijackRequest request, CancellationToken cancellationToken)
    {
        var remaining = request.HeadLength + request.ContentLength;
        while (remaining > 0)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var take = Math.Min(remaining, result.Buffer.Length);
            input.AdvanceTo(result.Buffer.GetPosition(take));
            remaining -= take;
            if (result.IsCompleted && remaining > 0)
            {
                return;
            }
        }
    }

    private static async Task WriteErrorAsync(PipeWriter output, PortLayerException error)
    {
        var status = Errors.DockerError.StatusFor(error.Kind);
        var body = JsonSerializer.Serialize(new { message = error.Message });
        var text = $"HTTP/1.1 {status} {(status == 404 ? "Not Found" : "Error")}\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";
        await output.WriteAsync(Encoding.UTF8.GetBytes(text)).ConfigureAwait(false);
        await output.CompleteAsync().ConfigureAwait(false);
    }

    private static bool IsTrue(IReadOnlyDictionary<string, string> query, string key) =>
        query.TryGetValue(key, out var value) && Models.RequestReading.IsTrue(value);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "attached to {Container} (upgrade: {Upgrade})")]
        public static partial void Attached(ILogger logger, string container, bool upgrade);
    }
}
