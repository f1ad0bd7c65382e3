using Microsoft.Extensions.Hosting;
using Vic.PortLayer.Vch;

namespace Vic.Endpoint.Hosting;

/// <summary>
/// Reattaches to the containers that kept running while the endpoint was down. Hosted services
/// start before Kestrel listens, so the first <c>docker ps</c> already sees the true states.
/// </summary>
internal sealed class ContainerRecovery(VchEngine engine) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => engine.Runtime.RecoverAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
