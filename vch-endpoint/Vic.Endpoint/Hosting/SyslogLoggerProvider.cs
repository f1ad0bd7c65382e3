using Microsoft.Extensions.Logging;
using Vic.PortLayer.Runtime;

namespace Vic.Endpoint.Hosting;

/// <summary>
/// The endpoint's own log sent to a syslog server as well (VIC's <c>--syslog-address</c>): an
/// appliance keeps its log in memory and on its console only, so this is where an admin collects
/// it. Each entry is a message at the severity of its level, tagged <c>vch-endpoint</c>, with the
/// VCH's name as its host and the console's "Category[EventId] text".
/// </summary>
public sealed class SyslogLoggerProvider(SyslogForwarder forwarder, TimeProvider time) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new SyslogLogger(forwarder, categoryName, time);

    /// <summary>Sends what is still queued (the endpoint's last lines) before the process ends.</summary>
    public void Dispose() => forwarder.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(3));

    /// <summary>Syslog's severity of a log level: debug 7, info 6, warning 4, err 3, crit 2.</summary>
    public static int Severity(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => 7,
        LogLevel.Information => 6,
        LogLevel.Warning => 4,
        LogLevel.Error => 3,
        _ => 2,
    };

    private sealed class SyslogLogger(SyslogForwarder forwarder, string category, TimeProvider time) : ILogger
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

            var text = formatter(state, exception);
            forwarder.Send(Severity(logLevel), exception is null ? $"{category}[{eventId.Id}] {text}" : $"{category}[{eventId.Id}] {text}\n{exception}", time.GetUtcNow());
        }
    }
}
