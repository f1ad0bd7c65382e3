using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Vic.Admin.Logs;

/// <summary>One line of the endpoint's log as vicadmin shows it.</summary>
public sealed record EndpointLogLine(long Sequence, DateTimeOffset Time, string Level, string Category, int EventId, string Message);

/// <summary>
/// The endpoint's recent log, kept in memory for vicadmin: a logger provider beside the console one,
/// holding the last <see cref="Capacity"/> lines for the page and the log bundle and handing new lines
/// to live readers. A reader that falls behind loses its oldest unread lines, never the endpoint's time.
/// </summary>
public sealed class EndpointLogBuffer : ILoggerProvider
{
    public const int DefaultCapacity = 10_000;

    private readonly Lock _lock = new();
    private readonly Queue<EndpointLogLine> _lines = new();
    private readonly List<Channel<EndpointLogLine>> _readers = [];
    private readonly TimeProvider _time;
    private long _sequence;

    public EndpointLogBuffer(int capacity = DefaultCapacity, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _time = time ?? TimeProvider.System;
    }

    public int Capacity { get; }

    public ILogger CreateLogger(string categoryName) => new BufferLogger(this, categoryName);

    /// <summary>The lines held, oldest first.</summary>
    public IReadOnlyList<EndpointLogLine> Snapshot()
    {
        lock (_lock)
        {
            return [.. _lines];
        }
    }

    /// <summary>
    /// The lines held and, atomically with them, a reader of every later line; the reader ends when
    /// <paramref name="cancellationToken"/> fires.
    /// </summary>
    public (IReadOnlyList<EndpointLogLine> History, ChannelReader<EndpointLogLine> Live) Follow(CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<EndpointLogLine>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        List<EndpointLogLine> history;
        lock (_lock)
        {
            history = [.. _lines];
            _readers.Add(channel);
        }

        cancellationToken.Register(() =>
        {
            lock (_lock)
            {
                _readers.Remove(channel);
            }

            channel.Writer.TryComplete();
        });
        return (history, channel.Reader);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var reader in _readers)
            {
                reader.Writer.TryComplete();
            }

            _readers.Clear();
        }
    }

    private void Append(LogLevel level, string category, EventId eventId, string message)
    {
        lock (_lock)
        {
            var line = new EndpointLogLine(++_sequence, _time.GetUtcNow(), LevelName(level), category, eventId.Id, message);
            _lines.Enqueue(line);
            if (_lines.Count > Capacity)
            {
                _lines.Dequeue();
            }

            foreach (var reader in _readers)
            {
                reader.Writer.TryWrite(line);
            }
        }
    }

    /// <summary>The console logger's short level names, so the page reads like the endpoint's log file.</summary>
    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };

    private sealed class BufferLogger(EndpointLogBuffer buffer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, exception);
            if (exception is not null)
            {
                message = $"{message}{Environment.NewLine}{exception}";
            }

            buffer.Append(logLevel, category, eventId, message);
        }
    }
}
