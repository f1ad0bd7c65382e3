using System.Globalization;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// Real images made from Debian's packages (scripts/seed-debian.sh): glibc programs, hard links, the
/// dpkg database, and the seed's hello world, <c>docker run -d -p 80:80 nginx</c>, answered from
/// the host; <c>docker save | docker load</c> of it and <c>docker import</c> of the Debian rootfs.
/// </summary>
public sealed class DebianImageTests(QemuVchFixture fixture) : IClassFixture<QemuVchFixture>, IDisposable
{
    private readonly TempDirectory _work = new("vch-debian");

    private QemuVch Vch => fixture.Vch;

    [Fact]
    public async Task NginxServesOnAPublishedPortAndDebianRunsGlibcWithItsPackageDatabase()
    {
        await Vch.SeedDebianAsync();
        var port = EndpointProcess.FreePort();

        await Vch.DockerAsync("run", "-d", "--name", "web", "-p", $"{port}:80", "nginx");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var page = await Eventually.WaitForAsync(
            async () =>
            {
                try
                {
                    return await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/"));
                }
                catch (HttpRequestException)
                {
                    return "";
                }
            },
            p => p.Contains("Welcome to nginx!", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60));
        var access = await Eventually.WaitForAsync(async () => (await Vch.DockerAsync("logs", "web")).StandardOutput, l => l.Contains("\"GET / HTTP/1.1\" 200", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        await Vch.DockerAsync("rm", "-f", "web");
        var debian = (await Vch.DockerAsync("run", "--rm", "debian:bookworm", "sh", "-c",
            "dpkg-query -W -f='${Status}\\n' libc6; stat -c %h /usr/bin/perl; getent passwd www-data | cut -d: -f3; cat /etc/debian_version")).StandardOutput.Split('\n');

        Assert.Contains("Welcome to nginx!", page, StringComparison.Ordinal);
        Assert.Contains("\"GET / HTTP/1.1\" 200", access, StringComparison.Ordinal);
        Assert.Equal("install ok installed", debian[0]);
        Assert.Equal("2", debian[1]); // perl and perl5.36.0 are one file
        Assert.Equal("33", debian[2]);
        Assert.StartsWith("12.", debian[3], StringComparison.Ordinal);
    }

    [Fact]
    public async Task NginxSavedAndLoadedAndTheDebianRootfsImportedRunAsTheOriginals()
    {
        await Vch.SeedDebianAsync();
        await Vch.DockerAsync("pull", "nginx");
        var id = (await Vch.DockerAsync("inspect", "-f", "{{.Id}}", "nginx")).StandardOutput.Trim();
        await Vch.DockerAsync("save", "-o", _work.Combine("nginx.tar"), "nginx");
        await Vch.DockerAsync("rmi", "nginx");
        var load = await Vch.DockerAsync("load", "-i", _work.Combine("nginx.tar"));
        var loadedId = (await Vch.DockerAsync("inspect", "-f", "{{.Id}}", "nginx")).StandardOutput.Trim();
        var version = (await Vch.DockerAsync("run", "--rm", "nginx", "nginx", "-v")).StandardError;
        var rootfs = Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "vic", "debian-bookworm", "debian-bookworm.tar");
        await Vch.DockerAsync("import", rootfs, "debian:imported");
        var imported = (await Vch.DockerAsync("run", "--rm", "debian:imported", "cat", "/etc/debian_version")).StandardOutput;
        var size = long.Parse((await Vch.DockerAsync("inspect", "-f", "{{.Size}}", "debian:imported")).StandardOutput.Trim(), CultureInfo.InvariantCulture);
        await Vch.DockerAsync("rmi", "debian:imported");

        Assert.Contains("Loaded image: nginx:latest", load.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(id, loadedId);
        Assert.Contains("nginx version: nginx/", version, StringComparison.Ordinal);
        Assert.StartsWith("12.", imported, StringComparison.Ordinal);
        Assert.True(size > 100_000_000, $"the imported Debian rootfs is {size} bytes");
    }

    public void Dispose() => _work.Dispose();
}
