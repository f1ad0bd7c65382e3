using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>The endpoint as an operator runs it: start-up validation, SIGKILL and restart.</summary>
public sealed class EndpointProcessTests : IDisposable
{
    private readonly TempDirectory _home = new("vch-proc");

    public void Dispose()
    {
        // The QEMU backend test may have left a template VM behind; it must not outlive the test.
        Command.RunAsync("pkill", ["-f", $"qemu-system.*{_home.Path}"]).GetAwaiter().GetResult();
        _home.Dispose();
    }

    [Theory]
    [InlineData("plain HTTP on every interface", "refusing to serve plain HTTP on tcp://0.0.0.0:", "-H", "tcp://0.0.0.0:{port}")]
    [InlineData("TLS without its certificate", "--tlscert is required with TLS", "-H", "tcp://127.0.0.1:{port}", "--tls")]
    [InlineData("a bad pool size", "--pool-memory: invalid size 'lots'", "-H", "tcp://127.0.0.1:{port}", "--pool-memory", "lots")]
    [InlineData("a bad address", "invalid bind address", "-H", "tcp://127.0.0.1:notaport")]
    [InlineData("qemu without its boot files", "--backend qemu needs --containervm-kernel and --containervm-initramfs", "-H", "tcp://127.0.0.1:{port}", "--backend", "qemu")]
    [InlineData("an unknown backend", "--backend: unknown backend 'hyperv'", "-H", "tcp://127.0.0.1:{port}", "--backend", "hyperv")]
    public async Task BadSettingsStopTheEndpointBeforeItListens(string because, string message, params string[] arguments)
    {
        var port = EndpointProcess.FreePort();
        await using var endpoint = EndpointProcess.Launch(port, [.. arguments.Select(a => a.Replace("{port}", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)), "--data-dir", _home.Combine("data")]);

        var exitCode = await endpoint.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.True(exitCode == 2, $"{because}: exit {exitCode}\n{endpoint.Output}");
        Assert.Contains(message, endpoint.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterSigkillTheEndpointRestartsOnTheSameSocketWithTheSameIdentity()
    {
        var port = EndpointProcess.FreePort();
        var socket = _home.Combine("docker.sock");
        string[] arguments = ["-H", $"tcp://127.0.0.1:{port}", "-H", $"unix://{socket}", "--data-dir", _home.Combine("data")];

        string firstId;
        await using (var first = await EndpointProcess.StartAsync(port, arguments))
        {
            firstId = await VchIdAsync($"unix://{socket}");
            await first.KillAsync();
        }

        // SIGKILL left the socket file behind; the next start must reclaim it.
        Assert.True(File.Exists(socket));
        await using var second = await EndpointProcess.StartAsync(port, arguments);

        Assert.Equal(firstId, await VchIdAsync($"unix://{socket}"));
    }

    [Fact]
    public async Task InfoAndVersionReportTheKernelOfTheContainerVms()
    {
        var fetched = await Command.RunAsync(Repository.Combine("iso", "fetch-kernel.sh"), [], timeout: TimeSpan.FromMinutes(5));
        Assert.True(fetched.ExitCode == 0, fetched.ToString());
        var kernel = fetched.StandardOutput.Trim();
        var release = new DirectoryInfo(Path.GetDirectoryName(kernel)!).ResolveLinkTarget(returnFinalTarget: true)!.Name;
        var port = EndpointProcess.FreePort();
        await using var endpoint = await EndpointProcess.StartAsync(port, ["-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), "--containervm-kernel", kernel]);

        var info = await Command.DockerAsync($"tcp://127.0.0.1:{port}", "info", "--format", "{{.KernelVersion}}");
        var version = await Command.DockerAsync($"tcp://127.0.0.1:{port}", "version", "--format", "{{.Server.KernelVersion}}");

        Assert.Matches(@"^\d+\.\d+\.\d+-\d+-cloud-amd64$", release);
        Assert.Equal(release + "\n", info.StandardOutput);
        Assert.Equal(release + "\n", version.StandardOutput);
    }

    [Fact]
    public async Task WithTheQemuBackendInfoShowsItAndHowContainerVmsStart()
    {
        var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
        var port = EndpointProcess.FreePort();
        await using var endpoint = await EndpointProcess.StartAsync(port,
        [
            "-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), "--backend", "qemu",
            "--containervm-kernel", kernel, "--containervm-initramfs", initramfs, "--no-instant-clone", "--pool-cpu", "3",
        ]);

        var info = await Command.DockerAsync($"tcp://127.0.0.1:{port}", "info");

        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("  Compute backend: qemu", info.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("  Provisioning: cold boot", info.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(" CPUs: 3", info.StandardOutput, StringComparison.Ordinal);
    }

    private static async Task<string> VchIdAsync(string host)
    {
        var result = await Command.DockerAsync(host, "info", "--format", "{{json .ID}}");
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonSerializer.Deserialize<string>(result.StandardOutput)!;
    }
}
