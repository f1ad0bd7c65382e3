using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// The README's first command as a user runs it: the scripts behind <c>make up</c> and
/// <c>make down</c> (install-deps aside), on ports of their own and a VCH home of their own.
/// </summary>
[Collection(nameof(MakeUpTests))]
public sealed class MakeUpTests : IDisposable
{
    private readonly TempDirectory _home = new("vch-home");
    private readonly int _port = EndpointProcess.FreePort();
    private readonly int _registryPort = EndpointProcess.FreePort();
    private readonly int _adminPort = EndpointProcess.FreePort();

    private string Tcp => $"tcp://127.0.0.1:{_port}";

    private string Unix => $"unix://{_home.Combine("docker.sock")}";

    [Fact]
    public async Task UpServesDockerTwiceHarmlesslyRestartsANewBuildAndDownStopsEverything()
    {
        var publish = await Command.RunAsync(Repository.Combine("scripts", "publish-endpoint.sh"), ["Release"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(publish.ExitCode == 0, publish.ToString());

        var up = await ScriptAsync("vch-up.sh");
        Assert.Contains($"export DOCKER_HOST={Tcp}\n", up.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"export DOCKER_HOST={Unix}\n", up.StandardOutput, StringComparison.Ordinal);

        Assert.Contains($"# vicadmin: https://127.0.0.1:{_adminPort}/ (user admin, password in {_home.Combine("vicadmin-password")})", up.StandardOutput, StringComparison.Ordinal);
        var login = await Command.RunAsync("bash", ["-c",
            $"curl -sk -c {_home.Combine("jar")} -o /dev/null -w '%{{http_code}}\n' --data-urlencode user=admin --data-urlencode \"password=$(cut -d: -f2- {_home.Combine("vicadmin-password")})\" https://127.0.0.1:{_adminPort}/login && " +
            $"curl -sk -b {_home.Combine("jar")} https://127.0.0.1:{_adminPort}/api/vch"]);
        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.StartsWith("302\n", login.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("\"name\":\"local-vch\"", login.StandardOutput, StringComparison.Ordinal);

        var hello = await DockerOkAsync(Unix, "run", "--rm", "busybox", "echo", "hello");
        Assert.Equal("hello\n", hello);
        var sleeper = (await DockerOkAsync(Tcp, "run", "-d", "busybox", "sleep", "600")).Trim();

        // Again: nothing new starts, nothing stops.
        var endpointPid = File.ReadAllText(_home.Combine("endpoint.pid")).Trim();
        var again = await ScriptAsync("vch-up.sh");
        Assert.Contains("vch: already running", again.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("registry: already running", again.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(endpointPid, File.ReadAllText(_home.Combine("endpoint.pid")).Trim());

        // A new build (as after `git pull`): the endpoint restarts on it and re-attaches the container.
        File.WriteAllText(_home.Combine("endpoint.build"), "an older build\n");
        var rebuilt = await ScriptAsync("vch-up.sh");
        Assert.Contains("restarting it", rebuilt.StandardOutput, StringComparison.Ordinal);
        Assert.NotEqual(endpointPid, File.ReadAllText(_home.Combine("endpoint.pid")).Trim());
        Assert.Equal("true", (await DockerOkAsync(Tcp, "inspect", "-f", "{{.State.Running}}", sleeper)).Trim());
        Assert.Equal("attached\n", await DockerOkAsync(Tcp, "exec", sleeper, "echo", "attached"));

        var vmPids = QemuPidsOfThisVch();
        Assert.NotEmpty(vmPids);
        var registryPid = int.Parse(File.ReadAllText(_home.Combine("registry.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        var down = await ScriptAsync("make-down");
        Assert.Contains("vch: stopped 1 container(s)", down.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("registry: stopped", down.StandardOutput, StringComparison.Ordinal);
        await WaitUntilAsync(() => QemuPidsOfThisVch().Count == 0 && !IsAlive(registryPid));
        Assert.False(File.Exists(_home.Combine("endpoint.pid")));
        Assert.NotEqual(0, (await Command.DockerAsync(Tcp, "version")).ExitCode);

        // Up once more: the data stayed, the container is there, stopped as dockerd leaves it.
        await ScriptAsync("vch-up.sh");
        Assert.StartsWith("exited", await DockerOkAsync(Tcp, "inspect", "-f", "{{.State.Status}}", sleeper), StringComparison.Ordinal);
        Assert.Contains("busybox", await DockerOkAsync(Tcp, "images"), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _ = ScriptAsync("make-down", check: false).Wait(TimeSpan.FromSeconds(60));
        _home.Dispose();
    }

    private async Task<CommandResult> ScriptAsync(string script, bool check = true)
    {
        var environment = new Dictionary<string, string>
        {
            ["VCH_HOME"] = _home.Path,
            ["VCH_PORT"] = _port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["VCH_REGISTRY_PORT"] = _registryPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["VCH_ADMIN_PORT"] = _adminPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };

        // The scripts run from the checkout's root, as make runs them.
        var path = script == "make-down" ? "vch-down.sh" : script;
        var result = await Command.RunAsync("bash", ["-c", $"cd \"$0\" && scripts/{path}", Repository.Root], environment, TimeSpan.FromMinutes(10));
        Assert.True(!check || result.ExitCode == 0, result.ToString());
        return result;
    }

    private static async Task<string> DockerOkAsync(string host, params string[] arguments)
    {
        var result = await Command.DockerAsync(host, arguments);
        Assert.True(result.ExitCode == 0, $"docker {string.Join(' ', arguments)}: {result}");
        return result.StandardOutput;
    }

    private List<int> QemuPidsOfThisVch() =>
        [.. Directory.GetDirectories("/proc").Select(d => Path.GetFileName(d)).Where(p => p.All(char.IsAsciiDigit)).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).Where(pid =>
        {
            try
            {
                return File.ReadAllText($"/proc/{pid}/comm").Trim() == "qemu-system-x86"
                    && File.ReadAllText($"/proc/{pid}/cmdline").Contains(_home.Path, StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false;
            }
        })];

    private static bool IsAlive(int pid) => File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(100);
        }

        Assert.True(condition());
    }
}
