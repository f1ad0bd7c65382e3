using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Vic.Endpoint.Configuration;
using Vic.Endpoint.Hosting;
using Vic.PortLayer.Vch;

namespace Vic.TestSupport;

/// <summary>
/// The real endpoint, hosted in the test process on a free loopback port, so a test can reach into
/// its port layer (to make containers and events) while real clients talk to it over TCP.
/// </summary>
public sealed class InProcessVch : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessVch(WebApplication app, Uri address, TempDirectory home)
    {
        _app = app;
        Address = address;
        Home = home;
    }

    /// <summary>http://127.0.0.1:PORT</summary>
    public Uri Address { get; }

    public string DockerHost => $"tcp://{Address.Host}:{Address.Port}";

    public TempDirectory Home { get; }

    public VchEngine Engine => _app.Services.GetRequiredService<VchEngine>();

    /// <summary>Cancelled once the endpoint's host is asked to stop (a signal, or vicadmin's stop).</summary>
    public CancellationToken Stopping => _app.Lifetime.ApplicationStopping;

    public static async Task<InProcessVch> StartAsync(Func<EndpointOptions, EndpointOptions>? configure = null, TimeProvider? time = null)
    {
        var home = new TempDirectory("vch-inproc");
        var options = new EndpointOptions
        {
            Hosts = ["tcp://127.0.0.1:0", $"unix://{home.Combine("docker.sock")}"],
            DataDirectory = home.Combine("data"),
            Name = "test-vch",
            PoolCpus = 2,
            PoolMemory = "2g",
        };
        var app = VchEndpointHost.Build((configure ?? (o => o))(options).Validate(), time);
        await app.StartAsync().ConfigureAwait(false);
        var address = new Uri(app.Urls.First(u => u.StartsWith("http", StringComparison.Ordinal)));
        return new InProcessVch(app, address, home);
    }

    public HttpClient CreateClient() => new() { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        Home.Dispose();
    }
}
