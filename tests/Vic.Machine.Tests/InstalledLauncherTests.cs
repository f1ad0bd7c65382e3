using System.Text.RegularExpressions;
using Vic.TestSupport;

namespace Vic.Machine.Tests;

/// <summary>
/// vic-machine as <c>make up</c> installs it: the launcher on the PATH, run from a directory that
/// has nothing of the project in it, the lines it prints pasted into a shell as they are.
/// </summary>
public sealed partial class InstalledLauncherTests : IDisposable
{
    private readonly TempDirectory _home = new("vic-machine-installed");

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task TheInstalledCommandRunsFromAnyDirectoryAndWhatItPrintsReachesTheVch()
    {
        await BootImages.EnsureBuiltAsync();
        var bin = _home.Combine("bin");
        var install = await Command.RunAsync(
            Repository.Combine("scripts", "install-vic-machine.sh"),
            [],
            new Dictionary<string, string> { ["VIC_MACHINE_BIN"] = bin, ["VIC_MACHINE_OUT"] = _home.Combine("published") },
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, install.ToString());

        // An empty home and working directory: no ~/.docker, no iso/ beside the caller.
        var elsewhere = Directory.CreateDirectory(_home.Combine("elsewhere")).FullName;
        var environment = new Dictionary<string, string> { ["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}", ["HOME"] = elsewhere };
        Task<CommandResult> ShellAsync(string script) => Command.RunAsync("/bin/sh", ["-c", script], environment, TimeSpan.FromMinutes(3), workingDirectory: elsewhere);

        var version = await ShellAsync("vic-machine version");
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Matches(VersionLine(), version.StandardOutput.Trim());

        foreach (var verify in new[] { true, false })
        {
            var name = verify ? "verified" : "unverified";
            var port = EndpointProcess.FreePort();
            // The second one on a terminal (script(1) gives it one): the long steps draw a bar there.
            // The verified VCH has users: its own client certificate (CN client) may do all, alice only read.
            await File.WriteAllTextAsync(Path.Combine(elsewhere, "policy.yaml"), "users:\n  client: { may: [all] }\n  alice: { may: [read] }\n");
            var registryCa = TestCertificates.Create(_home.Combine("registry-ca")).CaCert;
            var command = $"vic-machine-linux create --target local --name {name} --endpoint-address 127.0.0.1:{port} --memory 1024{(verify ? $" --authz-policy policy.yaml --registry-ca {registryCa}" : " --no-tlsverify")}";
            var create = await ShellAsync(verify ? command : $"script -qec '{command}' /dev/null");
            try
            {
                Assert.True(create.ExitCode == 0, create.ToString());
                if (!verify)
                {
                    Assert.Matches(@"waiting for the endpoint on 127\.0\.0\.1:\d+ .*━.* +\d+%", Unstyled(create.StandardOutput));
                }

                // The default cert path is ./NAME of where it was run, as VIC's was, with VIC's NAME.env in it.
                Assert.True(File.Exists(Path.Combine(elsewhere, name, "ca.pem")), create.ToString());
                var fromEnvFile = await ShellAsync($"export $(cat {name}/{name}.env) && docker info -f '{{{{.Name}}}}'");
                Assert.True(fromEnvFile.ExitCode == 0, fromEnvFile.ToString());
                Assert.Equal(name, fromEnvFile.StandardOutput.Trim());
                // VIC's "VCH Admin Portal" line, and the admin login it names lets a browser in.
                Assert.Contains($"VCH Admin Portal: https://127.0.0.1:{port + 2}/", create.StandardOutput, StringComparison.Ordinal);
                var portal = await ShellAsync(
                    $"curl -sk -c jar -o /dev/null -w '%{{redirect_url}}\n' --data-urlencode user=admin --data-urlencode \"password=$(cut -d: -f2- {name}/vicadmin-password)\" https://127.0.0.1:{port + 2}/login && " +
                    $"curl -sk -b jar https://127.0.0.1:{port + 2}/api/vch");
                Assert.True(portal.ExitCode == 0, portal.ToString());
                Assert.StartsWith($"https://127.0.0.1:{port + 2}/\n", portal.StandardOutput, StringComparison.Ordinal);
                Assert.Contains($"\"name\":\"{name}\"", portal.StandardOutput, StringComparison.Ordinal);

                var printed = Unstyled(create.StandardOutput).Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("export ", StringComparison.Ordinal) || l.StartsWith("docker ", StringComparison.Ordinal) || l.StartsWith("# or: ", StringComparison.Ordinal)).ToList();
                Assert.Contains(printed, l => l.StartsWith("docker ", StringComparison.Ordinal));
                var exports = string.Join('\n', printed.Where(l => l.StartsWith("export ", StringComparison.Ordinal)));
                foreach (var line in printed.Where(l => !l.StartsWith("export ", StringComparison.Ordinal)))
                {
                    var asPrinted = await ShellAsync($"{(line.StartsWith("# or: ", StringComparison.Ordinal) ? line[6..] : exports + "\n" + line)} -f '{{{{.Name}}}}'");
                    Assert.True(asPrinted.ExitCode == 0, $"{line}\n{asPrinted}");
                    Assert.Equal(name, asPrinted.StandardOutput.Trim());
                }

                if (verify)
                {
                    // VIC's inspect config: the create command that makes this VCH again.
                    var again = await ShellAsync($"vic-machine inspect config --target local --name {name} --format raw");
                    Assert.True(again.ExitCode == 0, again.ToString());
                    Assert.StartsWith("vic-machine-linux create --target local", again.StandardOutput, StringComparison.Ordinal);
                    Assert.Contains($"--name {name}", again.StandardOutput, StringComparison.Ordinal);
                    Assert.Contains($"--endpoint-address 127.0.0.1:{port}", again.StandardOutput, StringComparison.Ordinal);
                    Assert.Contains("--authz-policy ", again.StandardOutput, StringComparison.Ordinal);
                    Assert.Contains($"--registry-ca {registryCa}", again.StandardOutput, StringComparison.Ordinal);
                    Assert.Equal((await File.ReadAllTextAsync(registryCa)).TrimEnd(), (await File.ReadAllTextAsync(Path.Combine(elsewhere, name, "registry-ca.pem"))).TrimEnd());
                    var badTimeout = await ShellAsync($"vic-machine inspect --target local --name {name} --timeout soon");
                    Assert.Equal(1, badTimeout.ExitCode);
                    Assert.Contains("--timeout 'soon'", badTimeout.StandardError, StringComparison.Ordinal);

                    // A certificate of her own for alice, and the lines to use it, pasted as printed.
                    var issued = await ShellAsync($"vic-machine issue-cert --name {name} --cert-user alice");
                    Assert.True(issued.ExitCode == 0, issued.ToString());
                    var asAlice = string.Join('\n', Unstyled(issued.StandardOutput).Split('\n').Where(l => l.StartsWith("export ", StringComparison.Ordinal)));
                    var aliceReads = await ShellAsync($"{asAlice}\ndocker info -f '{{{{.Name}}}}'");
                    Assert.True(aliceReads.ExitCode == 0, $"{issued}\n{aliceReads}");
                    Assert.Equal(name, aliceReads.StandardOutput.Trim());
                    var aliceRuns = await ShellAsync($"{asAlice}\ndocker volume create mine");
                    Assert.True(aliceRuns.ExitCode != 0, aliceRuns.ToString());
                    Assert.Contains("authorization denied by plugin vch-authz: user \"alice\"", aliceRuns.StandardError, StringComparison.Ordinal);
                    Assert.Contains("\"user\":\"alice\"", await File.ReadAllTextAsync(Path.Combine(elsewhere, name, "data", "audit.log")), StringComparison.Ordinal);

                    // A container that runs: delete without --force keeps the VCH and says why.
                    var rootfs = BusyboxRoot.Create(_home.Combine("rootfs"));
                    var run = await ShellAsync($"{exports}\ntar -C {rootfs} -c . | docker import - bb:1 >/dev/null && docker run -d --name busy bb:1 /bin/sleep 600");
                    Assert.True(run.ExitCode == 0, run.ToString());
                    var refused = await ShellAsync($"vic-machine delete --target local --name {name}");
                    Assert.True(refused.ExitCode != 0, refused.ToString());
                    Assert.Contains("--force", refused.StandardOutput + refused.StandardError, StringComparison.Ordinal);
                    Assert.Contains("busy", refused.StandardOutput + refused.StandardError, StringComparison.Ordinal);
                    var stillThere = await ShellAsync($"{exports}\ndocker ps --format '{{{{.Names}}}}'");
                    Assert.Equal("busy", stillThere.StandardOutput.Trim());
                }
            }
            finally
            {
                var delete = await ShellAsync($"vic-machine delete --target local --name {name} --force");
                Assert.True(delete.ExitCode == 0, delete.ToString());
            }

            Assert.False(Directory.Exists(Path.Combine(elsewhere, name)));
        }

        // VIC's --tls-ca: clients bring certificates of the admin's own CA; the VCH makes no client certificate.
        var company = TestCertificates.CreateWithUsers(_home.Combine("company-ca"), "bob");
        var companyPort = EndpointProcess.FreePort();
        var companyVch = await ShellAsync($"vic-machine create --target local --name company --endpoint-address 127.0.0.1:{companyPort} --memory 1024 --tls-ca {company.CaCert}");
        try
        {
            Assert.True(companyVch.ExitCode == 0, companyVch.ToString());
            Assert.False(File.Exists(Path.Combine(elsewhere, "company", "cert.pem")));
            Assert.Contains("--tlscert YOUR-cert.pem --tlskey YOUR-key.pem", companyVch.StandardOutput, StringComparison.Ordinal);
            var bob = company.UserCertPath("bob");
            var asBob = await ShellAsync($"docker -H tcp://127.0.0.1:{companyPort} --tlsverify --tlscacert company/ca.pem --tlscert {bob}/cert.pem --tlskey {bob}/key.pem info -f '{{{{.Name}}}}'");
            Assert.True(asBob.ExitCode == 0, asBob.ToString());
            Assert.Equal("company", asBob.StandardOutput.Trim());
            var stranger = await ShellAsync($"docker -H tcp://127.0.0.1:{companyPort} --tlsverify --tlscacert company/ca.pem --tlscert {company.RogueClientCert} --tlskey {company.RogueClientKey} info");
            Assert.NotEqual(0, stranger.ExitCode);
            var ownCa = await ShellAsync("vic-machine issue-cert --name company --cert-user carol");
            Assert.Equal(1, ownCa.ExitCode);
            Assert.Contains("--tls-ca", ownCa.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            var delete = await ShellAsync("vic-machine delete --target local --name company --force");
            Assert.True(delete.ExitCode == 0, delete.ToString());
        }

        // VIC's --no-tls: plain HTTP, no certificates; the printed lines and NAME.env still work as they are.
        var plainPort = EndpointProcess.FreePort();
        var plain = await ShellAsync($"vic-machine create --target local --name plain --endpoint-address 127.0.0.1:{plainPort} --memory 1024 --no-tls");
        try
        {
            Assert.True(plain.ExitCode == 0, plain.ToString());
            Assert.False(File.Exists(Path.Combine(elsewhere, "plain", "ca.pem")));
            var lines = Unstyled(plain.StandardOutput).Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("export ", StringComparison.Ordinal)).ToList();
            Assert.Equal([$"export DOCKER_HOST=tcp://127.0.0.1:{plainPort}"], lines);
            var pasted = await ShellAsync($"{lines[0]}\ndocker info -f '{{{{.Name}}}}' && export $(cat plain/plain.env) && docker version -f '{{{{.Server.Os}}}}'");
            Assert.True(pasted.ExitCode == 0, pasted.ToString());
            Assert.Equal("plain\nlinux", pasted.StandardOutput.Trim());
        }
        finally
        {
            var delete = await ShellAsync("vic-machine delete --target local --name plain --force");
            Assert.True(delete.ExitCode == 0, delete.ToString());
        }
    }

    private static string Unstyled(string output) => TerminalControls().Replace(output, "");

    [GeneratedRegex(@"\x1B\[[0-9;?]*[A-Za-z]|\x1B[=>]")]
    private static partial Regex TerminalControls();

    [GeneratedRegex(@"^vic-machine version v\d+\.\d+\.\d+-[0-9a-f]{7}$")]
    private static partial Regex VersionLine();
}
