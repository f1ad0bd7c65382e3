using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Vic.Api.ContainersApi;
using Vic.Api.Versioning;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;

namespace Vic.Api.Hijack;

/// <summary>
/// Attach and exec start on a raw connection: the response head is written by hand (with the
/// headers every other route sends), then the connection carries the process's stdio until it ends.
/// </summary>
public sealed partial class HijackedCalls(VchEngine engine, EngineIdentity identity, ILogger logger)
{
    /// <summary>
    /// How long the first output waits after the head: a workaround for a client bug, not a
    /// guarantee. docker-py reads the head through a buffered reader and then the bare socket
    /// (docker/docker-py#425, #3332, still so in 7.x), so bytes that reach it with the head are
    /// swallowed by that buffer and lost: `attach(logs=True)` of an exited container and `exec_run`
    /// answered nothing. dockerd's first output leaves well after its head (it opens the log first);
    /// ours can be ready at once. A client slower than this to take the head still loses them; only
    /// output ready within it waits.
    /// </summary>
    private static readonly TimeSpan HeadAlone = TimeSpan.FromMilliseconds(25);

    /// <summary>Serves the call; returns the status it answered with, for the request metrics.</summary>
    /// <param name="authorize">The policy's check, made after the version check as on every other route; throws to refuse.</param>
    public async Task<int> ServeAsync(ConnectionContext connection, RequestHead request, byte[] body, Action? authorize = null)
    {
        var output = connection.Transport.Output;
        try
        {
            if (request.Version.Error is { } versionError)
            {
                throw PortLayerException.InvalidParameter(versionError);
            }

            authorize?.Invoke();

            return request.AttachContainer is { } container
                ? await AttachAsync(connection, request, container).ConfigureAwait(false)
                : await ExecStartAsync(connection, request, request.ExecStart!, body).ConfigureAwait(false);
        }
        catch (PortLayerException ex)
        {
            return await WriteErrorAsync(output, ex).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            return await WriteErrorAsync(output, PortLayerException.InvalidParameter($"invalid JSON: {ex.Message}")).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// <c>POST /exec/{id}/start</c>: starts the session and, unless detached, turns the connection
    /// into its stdio; the exit code is set before the stream closes.
    /// </summary>
    private async Task<int> ExecStartAsync(ConnectionContext connection, RequestHead request, string execId, byte[] body)
    {
        var output = connection.Transport.Output;
        var detach = false;

        // The start's Tty, not the create's, says whether the stream is raw or multiplexed, as on dockerd.
        var tty = false;
        if (body.Length > 0)
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw PortLayerException.InvalidParameter("invalid JSON: the exec start body must be an object");
            }

            detach = json.RootElement.TryGetProperty("Detach", out var d) && d.ValueKind == JsonValueKind.True;
            tty = json.RootElement.TryGetProperty("Tty", out var t) && t.ValueKind == JsonValueKind.True;
        }

        if (detach)
        {
            await engine.Runtime.StartExecAsync(execId, detached: true, connection.ConnectionClosed).ConfigureAwait(false);
            await WriteHeadAsync(output, 200, "OK", ["Content-Length: 0"]).ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
            return 200;
        }

        // The head goes out before the process runs, as dockerd's does: docker-py reads the head
        // through a buffered reader and then the bare socket, so output that arrives with the head
        // is swallowed by that buffer and lost.
        var exec = engine.Runtime.StartableExec(execId);
        var status = await WriteStreamHeadAsync(output, request, tty).ConfigureAwait(false);
        var headSent = Stopwatch.GetTimestamp();
        try
        {
            // Not bound to the connection: past the head the docker CLI half-closes it at once when it
            // sends no stdin, and that must not call the start off.
            await engine.Runtime.StartExecAsync(execId, detached: false, CancellationToken.None).ConfigureAwait(false);
        }
        catch (PortLayerException ex)
        {
            // Past the head, a refusal can only be told in the stream, as dockerd tells it.
            await HoldAfterHeadAsync(headSent).ConfigureAwait(false);
            await output.WriteAsync(Encoding.UTF8.GetBytes(ex.Message + "\r\n")).ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
            return status;
        }

        var streams = new AttachedStreams(exec.Output, tty, exec.WriteStdinAsync, exec.CloseStdinAsync);
        // The start's Tty frames the stream; the create's says whether detach keys are looked for, as in dockerd.
        var keys = exec.Options.Tty ? DetachKeys.Parse(exec.Options.DetachKeys) : null;
        await RelayAsync(connection, headSent, tty, [], streams, exec.Options.AttachStdin, exec.Options.AttachStdout, exec.Options.AttachStderr, keys).ConfigureAwait(false);
        return status;
    }

    /// <summary>
    /// <c>POST /containers/{id}/attach</c>: the log so far if <c>logs</c> is set, then (if
    /// <c>stream</c> is set) the live output and stdin until the container ends or the client detaches.
    /// </summary>
    private async Task<int> AttachAsync(ConnectionContext connection, RequestHead request, string container)
    {
        var stream = IsTrue(request.Query, "stream");
        var logs = IsTrue(request.Query, "logs");
        var streams = stream ? engine.Runtime.Attach(container) : null;
        var history = logs ? engine.Runtime.Logs(container, follow: false).History : [];
        var tty = streams?.Tty ?? engine.Containers.Resolve(container).Config.Tty;

        var status = await WriteStreamHeadAsync(connection.Transport.Output, request, tty).ConfigureAwait(false);
        var headSent = Stopwatch.GetTimestamp();
        Log.Attached(logger, container, request.WantsUpgrade);
        // As dockerd's copier: detach keys are looked for on a TTY only. Without one stdin is data
        // (a file piped to `docker run -i`), and ctrl-p ctrl-q in it are bytes like any other.
        var keys = tty ? DetachKeys.Parse(request.Query.TryGetValue("detachKeys", out var given) ? given : null) : null;
        await RelayAsync(connection, headSent, tty, history, streams, IsTrue(request.Query, "stdin"), IsTrue(request.Query, "stdout"), IsTrue(request.Query, "stderr"), keys).ConfigureAwait(false);
        return status;
    }

    /// <summary>The head of a stream; as dockerd's, a response that is no upgrade is typed raw-stream whatever its framing.</summary>
    private async Task<int> WriteStreamHeadAsync(PipeWriter output, RequestHead request, bool tty)
    {
        if (request.WantsUpgrade)
        {
            var contentType = $"Content-Type: {StdStreams.ContentType(tty, request.Version.Version)}";
            await WriteHeadAsync(output, 101, "UPGRADED", [contentType, "Connection: Upgrade", "Upgrade: tcp"]).ConfigureAwait(false);
            return 101;
        }

        await WriteHeadAsync(output, 200, "OK", [$"Content-Type: {StdStreams.RawContentType}"]).ConfigureAwait(false);
        return 200;
    }

    private async Task WriteHeadAsync(PipeWriter output, int status, string reason, IEnumerable<string> headers)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {reason}\r\n");
        foreach (var header in headers.Concat(DockerResponseHeaders.For(identity).Select(h => $"{h.Name}: {h.Value}")))
        {
            head.Append(header).Append("\r\n");
        }

        await output.WriteAsync(Encoding.ASCII.GetBytes(head.Append("\r\n").ToString())).ConfigureAwait(false);
    }

    /// <summary>Writes the history, then copies live output to the client until it ends, and the client's bytes to stdin until it half-closes.</summary>
    /// <param name="tty">Whether the stream is raw (a TTY's) rather than multiplexed, as its head said.</param>
    private static async Task RelayAsync(ConnectionContext connection, long headSent, bool tty, IReadOnlyList<OutputChunk> history, AttachedStreams? streams, bool wantStdin, bool stdout, bool stderr, DetachKeys? detachKeys = null)
    {
        var output = connection.Transport.Output;
        var detached = new CancellationTokenSource();
        var stdin = wantStdin && streams is not null ? Task.Run(() => PumpStdinAsync(connection.Transport.Input, streams, detachKeys, detached)) : Task.CompletedTask;
        var stream = output.AsStream(leaveOpen: true);
        var heldForHead = false;
        try
        {
            foreach (var chunk in history.Where(Wanted))
            {
                await LetTheHeadGoAloneAsync().ConfigureAwait(false);
                await StdStreams.WriteAsync(stream, chunk, tty, CancellationToken.None, flush: false).ConfigureAwait(false);
            }

            await stream.FlushAsync().ConfigureAwait(false);
            if (streams is not null)
            {
                await foreach (var chunk in streams.Output.ReadAllAsync(detached.Token).ConfigureAwait(false))
                {
                    // What has arrived by now goes out together, in one flush.
                    for (var next = chunk; next is not null; next = streams.Output.TryRead(out var more) ? more : null)
                    {
                        if (Wanted(next))
                        {
                            await LetTheHeadGoAloneAsync().ConfigureAwait(false);
                            await StdStreams.WriteAsync(stream, next, tty, CancellationToken.None, flush: false).ConfigureAwait(false);
                        }
                    }

                    await stream.FlushAsync().ConfigureAwait(false);
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

        bool Wanted(OutputChunk chunk) => (chunk.Stream == OutputStream.Stdout && stdout) || (chunk.Stream == OutputStream.Stderr && stderr);

        async Task LetTheHeadGoAloneAsync()
        {
            if (!heldForHead)
            {
                heldForHead = true;
                await HoldAfterHeadAsync(headSent).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Waits out what is left of <see cref="HeadAlone"/> since the head was handed to the transport.</summary>
    private static async Task HoldAfterHeadAsync(long headSent)
    {
        var left = HeadAlone - Stopwatch.GetElapsedTime(headSent);
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left).ConfigureAwait(false);
        }
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

    private async Task<int> WriteErrorAsync(PipeWriter output, PortLayerException error)
    {
        var status = Errors.DockerError.StatusFor(error.Kind);
        var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { message = error.Message }));
        var reason = status switch { 400 => "Bad Request", 403 => "Forbidden", 404 => "Not Found", 409 => "Conflict", _ => "Error" };
        await WriteHeadAsync(output, status, reason, ["Content-Type: application/json", $"Content-Length: {body.Length}", "Connection: close"]).ConfigureAwait(false);
        await output.WriteAsync(body).ConfigureAwait(false);
        await output.CompleteAsync().ConfigureAwait(false);
        return status;
    }

    private static bool IsTrue(IReadOnlyDictionary<string, string> query, string key) =>
        query.TryGetValue(key, out var value) && Models.RequestReading.IsTrue(value);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1102, Level = LogLevel.Debug, Message = "attached to {Container} (upgrade: {Upgrade})")]
        public static partial void Attached(ILogger logger, string container, bool upgrade);
    }
}
