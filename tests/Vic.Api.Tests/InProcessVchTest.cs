using Vic.TestSupport;

namespace Vic.Api.Tests;

/// <summary>A test class with its own in-process VCH and an HTTP client for it.</summary>
public abstract class InProcessVchTest : IAsyncLifetime
{
    protected InProcessVch Vch { get; private set; } = null!;

    protected HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Vch = await InProcessVch.StartAsync();
        Client = Vch.CreateClient();
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Vch.DisposeAsync();
    }
}
