using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Containers;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// The syslog log driver's sender: each line of a container's output a message to its server,
/// queued and sent by a task of its own, so a slow or absent server never holds the output (which
/// the log's cache keeps either way). A queue that reaches its bound drops lines and counts them;
/// a stream that breaks is dialled again for the next message, once, before the message is dropped.
/// </summary>
public sealed partial class SyslogForwarder : IAsyncDisposable
{
    /// <summary>Messages held for a server that is slow or away, before lines are dropped.</summary>
    public const int QueueLimit = 10_000;

    /// <summary>The longest message a line makes: dockerd's copier cuts lines at 16 KiB.</summary>
    public const int MaxLineBytes = 16 * 1024;

    /// <summary>How long a server that could not be reached is left before it is tried again.</summary>
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);

    private readonly SyslogTarget _target;
    private readonly string _tag;
    private readonly string _hostname;
    private readonly ILogger _logger;
    private readonly Channel<string> _queue = Channel.CreateBounded<string>(new BoundedChannelOptions(QueueLimit) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _pump;
    private readonly MemoryStream[] _pending = [new(), new()];
    private Socket? _socket;
    private long _dropped;
    private bool _failing;
    private DateTime _retryAfter;

    /// <param name="hostname">The messages' host: this machine's name unless given.</param>
    public SyslogForwarder(SyslogTarget target, string tag, ILogger logger, string? hostname = null)
    {
        _target = target;
        _tag = tag;
        _hostname = hostname ?? Dns.GetHostName();
        _logger = logger;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Lines not sent: the queue was full, or the server could not be reached.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Queues a chunk of output: stdout at info, stderr at err, a message per line whichever chunks
    /// it came in, and a line longer than <see cref="MaxLineBytes"/> in pieces of that size, as
    /// dockerd's log copier cuts it. Called for one container at a time (under its log's lock).
    /// </summary>
    public void Send(OutputStream stream, ReadOnlySpan<byte> data, DateTimeOffset time)
    {
        var pending = _pending[stream == OutputStream.Stderr ? 1 : 0];
        var severity = stream == OutputStream.Stderr ? 3 : 6;
        while (data.Length > 0)
        {
            var room = MaxLineBytes - (int)pending.Length;
            var newline = data[..Math.Min(data.Length, room)].IndexOf((byte)'\n');
            var take = newline >= 0 ? newline : Math.Min(data.Length, room);
            pending.Write(data[..take]);
            data = data[(newline >= 0 ? take + 1 : take)..];
            if (newline >= 0 || pending.Length >= MaxLineBytes)
            {
                Emit(severity, pending, time);
            }
        }
    }

    /// <summary>Sends the lines the process left unfinished (it ended without their newline).</summary>
    public void Flush(DateTimeOffset time)
    {
        Emit(6, _pending[0], time);
        Emit(3, _pending[1], time);
    }

    /// <summary>Queues text at a syslog severity (0 emerg .. 7 debug), a message per line, a long one in pieces.</summary>
    public void Send(int severity, string text, DateTimeOffset time)
    {
        foreach (var line in text.Split('\n'))
        {
            // At most MaxLineBytes characters (three times that in UTF-8 at worst): a datagram still fits.
            for (var start = 0; start < line.Length; start += MaxLineBytes)
            {
                Queue(severity, line.Substring(start, Math.Min(MaxLineBytes, line.Length - start)), time);
            }
        }
    }

    private void Emit(int severity, MemoryStream pending, DateTimeOffset time)
    {
        if (pending.Length > 0)
        {
            Queue(severity, Encoding.UTF8.GetString(pending.GetBuffer(), 0, (int)pending.Length), time);
            pending.SetLength(0);
        }
    }

    private void Queue(int severity, string line, DateTimeOffset time)
    {
        if (line.Length > 0 && !_queue.Writer.TryWrite(_target.Message(severity, _tag, line, time.ToLocalTime(), _hostname, Environment.ProcessId)))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task PumpAsync()
    {
        try
        {
            await foreach (var message in _queue.Reader.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
            {
                // A server that failed is tried again once a second, not for every line meanwhile.
                if (_socket is null && DateTime.UtcNow < _retryAfter)
                {
                    Interlocked.Increment(ref _dropped);
                    continue;
                }

                // A stream the server closed fails the first send: dialled again, the line goes on the second.
                var bytes = Encoding.UTF8.GetBytes(message);
                if (!await TrySendAsync(bytes).ConfigureAwait(false) && !await TrySendAsync(bytes).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref _dropped);
                    _retryAfter = DateTime.UtcNow + RetryInterval;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped with lines still queued: they go with the forwarder.
        }
    }

    private async Task<bool> TrySendAsync(byte[] message)
    {
        try
        {
            _socket ??= await ConnectAsync(_stopping.Token).ConfigureAwait(false);
            await _socket.SendAsync(message, SocketFlags.None, _stopping.Token).ConfigureAwait(false);
            if (_failing)
            {
                _failing = false;
                Log.Reached(_logger, _tag, $"{_target.Protocol}://{_target.Address}");
            }

            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever the cause (refused, unreachable, no such name, a socket path too long), the line is lost, never the sender.
            _socket?.Dispose();
            _socket = null;
            if (!_failing)
            {
                _failing = true;
                Log.Unreachable(_logger, _tag, $"{_target.Protocol}://{_target.Address}", ex.Message);
            }

            return false;
        }
    }

    private async Task<Socket> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_target.Protocol is "unix" or "unixgram")
        {
            var local = new Socket(AddressFamily.Unix, _target.Protocol == "unix" ? SocketType.Stream : SocketType.Dgram, ProtocolType.Unspecified);
            try
            {
                await local.ConnectAsync(new UnixDomainSocketEndPoint(_target.Address), cancellationToken).ConfigureAwait(false);
                return local;
            }
            catch
            {
                local.Dispose();
                throw;
            }
        }

        var colon = _target.Address.LastIndexOf(':');
        var host = _target.Address[..colon].Trim('[', ']');
        var port = int.Parse(_target.Address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var socket = _target.Protocol == "tcp" ? new Socket(SocketType.Stream, ProtocolType.Tcp) : new Socket(SocketType.Dgram, ProtocolType.Udp);
        try
        {
            await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends what is queued (for at most 2 s: a server that is away does not hold a container's end),
    /// then closes. An unfinished line is the caller's to <see cref="Flush"/> first, from the thread that sends.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (await Task.WhenAny(_pump, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false) != _pump)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            await _pump.ConfigureAwait(false);
        }

        _socket?.Dispose();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2013, Level = LogLevel.Warning, Message = "syslog log driver ({Tag}): {Server} cannot be reached ({Reason}); lines are dropped until it can")]
        public static partial void Unreachable(ILogger logger, string tag, string server, string reason);

        [LoggerMessage(EventId = 2014, Level = LogLevel.Information, Message = "syslog log driver ({Tag}): {Server} reached again")]
        public static partial void Reached(ILogger logger, string tag, string server);
    }
}
