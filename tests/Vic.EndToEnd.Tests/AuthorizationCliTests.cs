using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// Users and what they may do, as the docker CLI meets them: a VCH with <c>--tlsverify</c> and an
/// authorization policy, real ContainerVMs, and a client certificate per user (its common name the user).
/// </summary>
public sealed class AuthorizationCliTests : IAsyncLifetime, IDisposable
{
    private const string Policy = """
        users:
          ops: { may: [all] }
          auditor: { may: [read] }
          web:
            may: [read, run, exec, remove, pull]
            images: [busybox]
            labels: { team: web }
        """;

    private readonly TempDirectory _home = new("vch-authz");
    private LocalRegistry? _registry;
    private EndpointProcess? _endpoint;
    private TestCertificates? _certificates;
    private int _port;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <remarks>IAsyncLifetime's, not IAsyncDisposable's: xunit 2 never calls the latter on a test class, which left this test's endpoint and its ContainerVMs running after the suite.</remarks>
    public async Task DisposeAsync()
    {
        if (_endpoint is not null)
        {
            await DockerAsync("ops", "rm", "-f", "ops-box", "web1");
            await _endpoint.DisposeAsync();
        }

        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }
    }

    /// <remarks>xunit calls it after <see cref="DisposeAsync"/>: the folder goes once nothing runs in it.</remarks>
    public void Dispose() => _home.Dispose();

    private Task<CommandResult> DockerAsync(string user, params string[] arguments)
    {
        var folder = _certificates!.UserCertPath(user);
        return Command.RunAsync(
            "docker",
            ["--tlsverify", "--tlscacert", Path.Combine(folder, "ca.pem"), "--tlscert", Path.Combine(folder, "cert.pem"), "--tlskey", Path.Combine(folder, "key.pem"), "-H", $"tcp://127.0.0.1:{_port}", .. arguments],
            new Dictionary<string, string> { ["DOCKER_CONFIG"] = Command.DockerConfigDirectory });
    }

    private async Task<string> AllowedAsync(string user, params string[] arguments)
    {
        var result = await DockerAsync(user, arguments);
        Assert.True(result.ExitCode == 0, $"{user}: docker {string.Join(' ', arguments)}: {result}");
        return result.StandardOutput;
    }

    private async Task<string> RefusedAsync(string user, params string[] arguments)
    {
        var result = await DockerAsync(user, arguments);
        Assert.True(result.ExitCode != 0, $"{user}: docker {string.Join(' ', arguments)} was let through: {result}");
        Assert.Contains("authorization denied by plugin vch-authz", result.StandardError, StringComparison.Ordinal);
        return result.StandardError;
    }

    [Fact]
    public async Task AReadOnlyUserOnlyReadsAnImageScopedUserRunsOnlyItsRepositoryAndTheAuditLogHasEveryCall()
    {
        _registry = await LocalRegistry.StartAsync();
        await _registry.SeedBusyboxAsync();
        var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
        _certificates = TestCertificates.CreateWithUsers(_home.Combine("certs"), "ops", "auditor", "web", "stranger");
        var policy = _home.Combine("policy.yaml");
        await File.WriteAllTextAsync(policy, Policy);
        var port = _port = EndpointProcess.FreePort();
        _endpoint = await EndpointProcess.StartAsync(port,
        [
            "-H", $"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", _certificates.CaCert, "--tlscert", _certificates.ServerCert, "--tlskey", _certificates.ServerKey,
            "--data-dir", _home.Combine("data"), "--registry-mirror", $"http://{_registry.Host}",
            "--backend", "qemu", "--containervm-kernel", kernel, "--containervm-initramfs", initramfs, "--authz-policy", policy,
        ],
        async () => (await DockerAsync("ops", "version")).ExitCode == 0);

        // ops may do everything.
        await AllowedAsync("ops", "pull", "busybox");
        await AllowedAsync("ops", "tag", "busybox", "other/tool");
        await AllowedAsync("ops", "run", "-d", "--name", "ops-box", "busybox", "sleep", "600");

        // auditor lists and inspects, and may change nothing (attach and exec included: the hijacked calls).
        Assert.Contains("ops-box", await AllowedAsync("auditor", "ps", "--format", "{{.Names}}"), StringComparison.Ordinal);
        Assert.Equal("true\n", await AllowedAsync("auditor", "inspect", "-f", "{{.State.Running}}", "ops-box"));
        Assert.Contains("user \"auditor\" may not run or change containers", await RefusedAsync("auditor", "run", "--rm", "busybox", "true"), StringComparison.Ordinal);
        Assert.Contains("may not exec in containers", await RefusedAsync("auditor", "exec", "ops-box", "true"), StringComparison.Ordinal);
        await RefusedAsync("auditor", "rm", "-f", "ops-box");
        // The CLI reads no body when an upgrade is refused (as with dockerd): it prints the status alone.
        var attach = await DockerAsync("auditor", "attach", "ops-box");
        Assert.True(attach.ExitCode != 0 && attach.StandardError.Contains("received 403", StringComparison.Ordinal), attach.ToString());
        await RefusedAsync("auditor", "pull", "busybox");
        await RefusedAsync("stranger", "ps");
        Assert.Equal("true\n", await AllowedAsync("ops", "inspect", "-f", "{{.State.Running}}", "ops-box"));

        // web runs busybox, in containers labelled team=web, and nothing else.
        await AllowedAsync("web", "run", "-d", "--name", "web1", "--label", "team=web", "busybox", "sleep", "600");
        Assert.Equal("hi\n", await AllowedAsync("web", "exec", "web1", "echo", "hi"));
        Assert.Contains("may not use image \"other/tool\"", await RefusedAsync("web", "run", "--rm", "--label", "team=web", "other/tool", "true"), StringComparison.Ordinal);
        Assert.Contains("may only create containers labelled team=web", await RefusedAsync("web", "run", "--rm", "busybox", "true"), StringComparison.Ordinal);
        Assert.Contains("ops-box is not", await RefusedAsync("web", "exec", "ops-box", "true"), StringComparison.Ordinal);
        await RefusedAsync("web", "stop", "ops-box");
        await RefusedAsync("web", "push", "busybox");
        Assert.Contains("ops-box is not", await RefusedAsync("web", "run", "--rm", "--label", "team=web", "--volumes-from", "ops-box", "busybox", "true"), StringComparison.Ordinal);
        Assert.Contains("a prune reaches all of them", await RefusedAsync("web", "container", "prune", "-f"), StringComparison.Ordinal);
        await AllowedAsync("web", "rm", "-f", "web1");

        // The audit log: every call that changed something or was refused, with user, route, target and outcome.
        var audit = File.ReadAllLines(_home.Combine("data", "audit.log")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        bool Has(string user, string method, string route, string outcome, string? target = null) => audit.Any(e =>
            e.GetProperty("user").GetString() == user && e.GetProperty("method").GetString() == method && e.GetProperty("route").GetString() == route
            && e.GetProperty("outcome").GetString() == outcome && (target is null || e.GetProperty("target").GetString() == target));

        Assert.True(Has("ops", "POST", "/images/create", "allowed", "docker.io/library/busybox"), string.Join('\n', audit));
        Assert.True(Has("ops", "POST", "/images/{name}/tag", "allowed", "busybox"));
        Assert.True(Has("ops", "POST", "/containers/create", "allowed", "ops-box"));
        Assert.True(Has("ops", "POST", "/containers/{id}/start", "allowed"));
        Assert.True(Has("auditor", "POST", "/containers/create", "denied"));
        Assert.True(Has("auditor", "POST", "/containers/{id}/exec", "denied", "ops-box"));
        Assert.True(Has("auditor", "DELETE", "/containers/{id}", "denied", "ops-box"));
        Assert.True(Has("auditor", "POST", "/containers/{id}/attach", "denied", "ops-box"));
        Assert.True(Has("auditor", "POST", "/images/create", "denied", "docker.io/library/busybox"));
        Assert.True(Has("stranger", "GET", "/containers/json", "denied"));
        Assert.True(Has("web", "POST", "/containers/create", "allowed", "web1"));
        Assert.True(Has("web", "POST", "/exec/{id}/start", "allowed"));
        Assert.True(Has("web", "POST", "/containers/create", "denied"));
        Assert.True(Has("web", "POST", "/containers/{id}/stop", "denied", "ops-box"));
        Assert.True(Has("web", "POST", "/images/{name}/push", "denied", "docker.io/library/busybox"));
        Assert.True(Has("web", "DELETE", "/containers/{id}", "allowed", "web1"));
        Assert.DoesNotContain(audit, e => e.GetProperty("method").GetString() == "GET" && e.GetProperty("outcome").GetString() != "denied");
        Assert.All(audit, e => Assert.Equal("127.0.0.1", e.GetProperty("remote").GetString()));
    }
}
