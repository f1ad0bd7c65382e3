using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Vic.Api.Metrics;
using Vic.Api.Versioning;
using Vic.PortLayer.Vch;

namespace Vic.Api.Hijack;

/// <summary>
/// Serves the hijacked Docker calls (attach, exec start) below Kestrel's HTTP layer. Kestrel
/// ignores an upgrade when a request has a body (exec start has one) and treats the client's
/// half-close as an abort, while Docker needs both: the CLI sends a body with Upgrade, and a
/// half-close means "stdin is done" while it keeps reading.
/// <para>
/// Every request of a connection passes through here: its head is read, and unless it is a
/// hijacked call, the head and its body (framed by <see cref="RequestFraming"/>) go on to Kestrel
/// through a pipe, and Kestrel's answers come back through another. Clients such as docker-py and
/// compose re-use a kept-alive connection for attach, so any request, not only the first, may be
/// the one that turns the connection into a stream. When it comes, Kestrel is told the client is
/// done and, once it has let go, the connection is the call's.
/// </para>
/// </summary>
public sealed class HijackConnectionMiddleware(ConnectionDelegate next, VchEngine engine, EngineIdentity identity, ApiRequestMetrics metrics, ILogger<HijackConnectionMiddleware> logger, Authorization.AuditLog? audit = null, Authorization.AccessGuard? guard = null)
{
    private static readonly PipeOptions Buffered = new(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false);

    private readonly HijackedCalls _calls = new(engine, identity, logger);

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var client = connection.Transport;
        var toKestrel = new Pipe(Buffered);
        var fromKestrel = new Pipe(Buffered);
        var kestrelSide = new KestrelSide(connection, new DuplexPipe(toKestrel.Reader, fromKestrel.Writer));
        var hijacking = false;
        var kestrel = RunKestrelAsync();
        var answers = Task.Run(async () =>
        {
            await RequestFraming.PassThroughAsync(fromKestrel.Reader, client.Output, CancellationToken.None).ConfigureAwait(false);
            await fromKestrel.Reader.CompleteAsync().ConfigureAwait(false);
            if (!Volatile.Read(ref hijacking))
            {
                // Kestrel closed the connection (Connection: close, a bad request, shutdown): stop reading the client.
                client.Input.CancelPendingRead();
            }
        });

        RequestHead? hijack = null;
        try
        {
            hijack = await ForwardRequestsAsync(client.Input, toKestrel.Writer).ConfigureAwait(false);
            Volatile.Write(ref hijacking, hijack is not null);
            if (hijack is not null)
            {
                kestrelSide.HandOver();
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or OperationCanceledException or InvalidOperationException)
        {
            // The client went away; Kestrel learns it from the end of its input.
        }
        finally
        {
            await toKestrel.Writer.CompleteAsync().ConfigureAwait(false);
        }

        // Between requests, the end of its input makes Kestrel end the connection without a word.
        await kestrel.ConfigureAwait(false);
        await answers.ConfigureAwait(false);
        if (hijack is null)
        {
            await client.Output.CompleteAsync().ConfigureAwait(false);
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var body = await ReadBodyAsync(client.Input, hijack).ConfigureAwait(false);
        var call = Authorization.ApiCallClassifier.Classify(hijack.Method, hijack.Version.Path);
        var user = Authorization.CallerIdentity.UserOf(connection);
        var status = 0;
        try
        {
            status = await _calls.ServeAsync(connection, hijack, body, guard is null ? null : () => guard.Check(user, call, Authorization.CallDetails.None)).ConfigureAwait(false);
        }
        finally
        {
            // Written however the call ended: a connection that broke mid-stream is on record too.
            audit?.Write(new Authorization.AuditEntry(
                engine.Time.GetUtcNow(), user, Authorization.CallerIdentity.RemoteOf(connection), call.Method, call.Route, call.Target, call.Right.ToString().ToLowerInvariant(),
                status, status is > 0 and < 400 ? "allowed" : status == 403 ? "denied" : "failed"));
        }
        metrics.Record(hijack.Method, hijack.AttachContainer is null ? "/exec/{id}/start" : "/containers/{id}/attach", status, Stopwatch.GetElapsedTime(started));

        async Task RunKestrelAsync()
        {
            try
            {
                await next(kestrelSide).ConfigureAwait(false);
            }
            finally
            {
                // Kestrel leaves its output for the transport to complete, which here means us.
                await fromKestrel.Writer.CompleteAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Hands Kestrel one request after another; returns the hijacked call whose head is next on the
    /// connection (not consumed), or null when the connection ended or stopped being framed HTTP.
    /// </summary>
    private static async Task<RequestHead?> ForwardRequestsAsync(PipeReader input, PipeWriter kestrel)
    {
        while (true)
        {
            var (head, ended) = await PeekHeadAsync(input).ConfigureAwait(false);
            if (ended)
            {
                return null;
            }

            if (head is null)
            {
                // Not a head we can read: Kestrel will answer it (400, 431) and close.
                await RequestFraming.PassThroughAsync(input, kestrel, CancellationToken.None).ConfigureAwait(false);
                return null;
            }

            if (head.IsHijack)
            {
                return head;
            }

            if (await RequestFraming.ForwardExactlyAsync(input, kestrel, head.HeadLength, CancellationToken.None).ConfigureAwait(false) != RequestFraming.Outcome.Forwarded)
            {
                return null;
            }

            var outcome = await RequestFraming.ForwardBodyAsync(head, input, kestrel, CancellationToken.None).ConfigureAwait(false);
            if (outcome == RequestFraming.Outcome.Ended)
            {
                return null;
            }

            if (outcome == RequestFraming.Outcome.Unframed || head.HasUpgrade)
            {
                // Framing we do not follow, or a protocol switch that is not ours: the rest is Kestrel's.
                await RequestFraming.PassThroughAsync(input, kestrel, CancellationToken.None).ConfigureAwait(false);
                return null;
            }
        }
    }

    /// <summary>Waits for the next request's head without consuming it.</summary>
    private static async Task<(RequestHead? Head, bool Ended)> PeekHeadAsync(PipeReader input)
    {
        while (true)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            if (result.IsCanceled || (result.IsCompleted && result.Buffer.IsEmpty))
            {
                input.AdvanceTo(result.Buffer.Start);
                return (null, true);
            }

            var head = RequestHead.TryParse(result.Buffer, out var complete);
            if (complete || result.IsCompleted)
            {
                input.AdvanceTo(result.Buffer.Start);
                return (head, false);
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Consumes the hijacked call's head and returns its body (exec start's JSON; attach has none).</summary>
    private static async Task<byte[]> ReadBodyAsync(PipeReader input, RequestHead request)
    {
        var length = Math.Max(0, request.ContentLength ?? 0);
        var total = request.HeadLength + length;
        while (true)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            if (result.Buffer.Length >= total || result.IsCompleted || result.IsCanceled)
            {
                var available = Math.Min(total, result.Buffer.Length);
                var body = available > request.HeadLength ? result.Buffer.Slice(request.HeadLength, available - request.HeadLength).ToArray() : [];
                input.AdvanceTo(result.Buffer.GetPosition(available));
                return body;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>
    /// The connection as Kestrel sees it: our pipes for transport, the real connection for the rest.
    /// Once the connection is handed to a hijacked call, Kestrel's own aborts stop reaching the
    /// socket: its timers (the drain after its last response, keep-alive) outlive its use of the
    /// connection and would otherwise reset a stream that is no longer its.
    /// </summary>
    private sealed class KestrelSide(ConnectionContext real, IDuplexPipe transport) : ConnectionContext
    {
        private volatile bool _handedOver;

        public override IDuplexPipe Transport { get; set; } = transport;

        public override string ConnectionId
        {
            get => real.ConnectionId;
            set => real.ConnectionId = value;
        }

        public override Microsoft.AspNetCore.Http.Features.IFeatureCollection Features => real.Features;

        public override IDictionary<object, object?> Items
        {
            get => real.Items;
            set => real.Items = value;
        }

        public override CancellationToken ConnectionClosed
        {
            get => real.ConnectionClosed;
            set => real.ConnectionClosed = value;
        }

        public override System.Net.EndPoint? LocalEndPoint
        {
            get => real.LocalEndPoint;
            set => real.LocalEndPoint = value;
        }

        public override System.Net.EndPoint? RemoteEndPoint
        {
            get => real.RemoteEndPoint;
            set => real.RemoteEndPoint = value;
        }

        public void HandOver() => _handedOver = true;

        public override void Abort(ConnectionAbortedException abortReason)
        {
            if (!_handedOver)
            {
                real.Abort(abortReason);
            }
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
