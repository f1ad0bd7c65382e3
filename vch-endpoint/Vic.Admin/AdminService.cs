using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Vic.Admin.Logs;
using Vic.Admin.Site;
using Vic.PortLayer.Vch;

namespace Vic.Admin;

/// <summary>Runs vicadmin for as long as the endpoint runs: its web application is started and stopped with the endpoint's host.</summary>
/// <param name="stopEndpoint">Stops the endpoint's host: vicadmin's <c>POST /api/stop</c>, which vic-machine asks before it restarts an appliance.</param>
public sealed partial class AdminService(AdminConfig config, VchEngine engine, EndpointLogBuffer endpointLog, ILoggerFactory loggers, TimeProvider time, Action stopEndpoint) : IHostedService, IAsyncDisposable
{
    private WebApplication? _site;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _site = AdminSite.Build(config, engine, endpointLog, loggers, time, stopEndpoint);
        await _site.StartAsync(cancellationToken).ConfigureAwait(false);
        Log.Serving(loggers.CreateLogger("Vic.Admin"), $"https://{config.Listen}/");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_site is not null)
        {
            await _site.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_site is not null)
        {
            await _site.DisposeAsync().ConfigureAwait(false);
            _site = null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 6000, Level = LogLevel.Information, Message = "vicadmin serving on {Url}")]
        public static partial void Serving(ILogger logger, string url);
    }
}
