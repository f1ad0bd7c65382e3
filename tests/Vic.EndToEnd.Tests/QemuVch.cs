using Vic.TestSupport;
using Xunit;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// An endpoint process with real ContainerVMs (QEMU backend, instant clone, TCG) whose docker.io
/// mirror is a local registry seeded with busybox, with an NFS volume store labelled <c>shared</c>
/// on a local NFS-Ganesha. It can be killed with SIGKILL and started again over the same data
/// directory, as when the appliance loses power.
/// </summary>
public sealed class QemuVch : IAsyncDisposable
{
    private readonly TempDirectory _home;
    private readonly LocalRegistry _registry;
    private readonly string[] _arguments;

    private QemuVch(TempDirectory home, LocalRegistry registry, NfsServer nfs, string[] arguments, EndpointProcess endpoint)
    {
        _home = home;
        _registry = registry;
        Nfs = nfs;
        _arguments = arguments;
        Endpoint = endpoint;
    }

    /// <summary>The NFS server behind the <c>shared</c> volume store (its folder <c>/export/vch</c>).</summary>
    public NfsServer Nfs { get; }

    public EndpointProcess Endpoint { get; private set; }

    /// <summary>The local registry (host:port) the VCH pulls through as its mirror.</summary>
    public string RegistryHost => _registry.Host;

    /// <summary>Puts debian:bookworm and nginx:latest into the local registry.</summary>
    public Task SeedDebianAsync() => _registry.SeedDebianAsync();

    public string Host => $"tcp://127.0.0.1:{Endpoint.Port}";

    /// <summary>Starts the registry and the endpoint over <paramref name="home"/>, and pulls busybox.</summary>
    public static async Task<QemuVch> StartAsync(TempDirectory home)
    {
        var registry = await LocalRegistry.StartAsync();
        await registry.SeedBusyboxAsync();
        var nfs = await NfsServer.StartAsync();
        var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
        var port = EndpointProcess.FreePort();
        string[] arguments =
        [
            "-H", $"tcp://127.0.0.1:{port}", "--data-dir", home.Combine("data"), "--registry-mirror", $"http://{registry.Host}",
            "--backend", "qemu", "--containervm-kernel", kernel, "--containervm-initramfs", initramfs, "--pool-cpu", "4", "--pool-memory", "6g",
            "--volume-store", $"nfs://127.0.0.1:{nfs.Port}{NfsServer.ExportPath}/vch:shared",
        ];
        var vch = new QemuVch(home, registry, nfs, arguments, await EndpointProcess.StartAsync(port, arguments));
        await vch.DockerAsync("pull", "busybox");
        return vch;
    }

    /// <summary>SIGKILL, then the same endpoint again once <paramref name="meanwhile"/> has run.</summary>
    public async Task CrashAndRestartAsync(Func<Task>? meanwhile = null)
    {
        await Endpoint.KillAsync();
        await Endpoint.DisposeAsync();
        if (meanwhile is not null)
        {
            await meanwhile();
        }

        Endpoint = await EndpointProcess.StartAsync(Endpoint.Port, _arguments);
    }

    /// <summary>Runs docker against the VCH and insists that it succeeds.</summary>
    public async Task<CommandResult> DockerAsync(params string[] arguments)
    {
        var result = await Command.DockerAsync(Host, arguments);
        Assert.True(result.ExitCode == 0, $"docker {string.Join(' ', arguments)}: {result}\nendpoint:\n{Endpoint.Output}");
        return result;
    }

    /// <summary>Runs docker against the VCH whatever it returns.</summary>
    public Task<CommandResult> TryDockerAsync(params string[] arguments) => Command.DockerAsync(Host, arguments);

    public async ValueTask DisposeAsync()
    {
        await Endpoint.DisposeAsync();
        await _registry.DisposeAsync();

        // ContainerVMs outlive their endpoint by design; a test's VMs must not outlive the test.
        await Command.RunAsync("pkill", ["-f", $"qemu-system.*{_home.Path}"]);
        await Nfs.DisposeAsync();
    }
}

/// <summary>One <see cref="QemuVch"/> shared by the tests of a class (xunit class fixture).</summary>
public sealed class QemuVchFixture : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-shared");

    public QemuVch Vch { get; private set; } = null!;

    public async Task InitializeAsync() => Vch = await QemuVch.StartAsync(_home);

    public async Task DisposeAsync() => await Vch.DisposeAsync();

    public void Dispose() => _home.Dispose();
}
