using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// The image store seen through the stock docker CLI with images made by <c>docker import</c>:
/// list filters, prune, layers shared between images, import from a URL and <c>docker system df</c>.
/// </summary>
public sealed class DockerImageStoreTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-imgstore");
    private EndpointProcess _endpoint = null!;

    private string Host => $"tcp://127.0.0.1:{_endpoint.Port}";

    private string LayersDirectory => _home.Combine("data", "imagestore", "layers");

    public async Task InitializeAsync()
    {
        var port = EndpointProcess.FreePort();
        _endpoint = await EndpointProcess.StartAsync(port, ["-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data")]);
    }

    public async Task DisposeAsync() => await _endpoint.DisposeAsync();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task ListFiltersBeforeSinceAndLabelPickTheRightImagesAndAllListsEveryImage()
    {
        await DockerAsync("import", "--change", "LABEL tier=web", await RootfsAsync("first"), "first:1");
        await DockerAsync("import", "--change", "LABEL tier=db owner=ops", await RootfsAsync("second"), "second:1");
        await DockerAsync("import", await RootfsAsync("third"), "third:1");
        var untagged = (await DockerAsync("import", await RootfsAsync("fourth"))).StandardOutput.Trim();

        Assert.Equal(["first:1"], await NamesAsync("--filter", "before=second:1"));
        Assert.Equal(["<none>:<none>", "third:1"], await NamesAsync("--filter", "since=second:1"));
        Assert.Equal(["second:1"], await NamesAsync("--filter", "since=first:1", "--filter", "before=third:1"));
        Assert.Equal(["first:1", "second:1"], await NamesAsync("--filter", "label=tier"));
        Assert.Equal(["second:1"], await NamesAsync("--filter", "label=tier=db"));
        Assert.Equal(["second:1"], await NamesAsync("--filter", "label=tier", "--filter", "label=owner=ops"));
        Assert.Empty(await NamesAsync("--filter", "label=tier=web", "--filter", "label=owner"));
        Assert.Empty(await NamesAsync("--filter", "label=colour"));

        string[] everything = ["<none>:<none>", "first:1", "second:1", "third:1"];
        Assert.Equal(everything, await NamesAsync("-a"));
        Assert.Equal(everything, await NamesAsync());
        Assert.Equal(untagged + "\n", (await DockerAsync("images", "-a", "-q", "--no-trunc", "--filter", "dangling=true")).StandardOutput);
        var missing = await Command.DockerAsync(Host, "images", "--filter", "before=nosuch:1");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("No such image: nosuch:1", missing.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImagePruneFiltersTakeOnlyWhatTheyPickAndUnknownKeysAreRefused()
    {
        var web = (await DockerAsync("import", "--change", "LABEL tier=web", await RootfsAsync("web"), "web:1")).StandardOutput.Trim();
        var db = (await DockerAsync("import", "--change", "LABEL tier=db", await RootfsAsync("db"), "db:1")).StandardOutput.Trim();
        var plain = (await DockerAsync("import", await RootfsAsync("plain"), "plain:1")).StandardOutput.Trim();

        var beforeAnyOfThem = (await DockerAsync("image", "prune", "-a", "-f", "--filter", "until=2001-01-01T00:00:00Z")).StandardOutput;
        var unknown = await Command.DockerAsync(Host, "image", "prune", "-a", "-f", "--filter", "colour=red");
        var onlyWeb = (await DockerAsync("image", "prune", "-a", "-f", "--filter", "label=tier=web")).StandardOutput;
        var notLabelled = (await DockerAsync("image", "prune", "-a", "-f", "--filter", "label!=tier")).StandardOutput;
        var left = (await DockerAsync("images", "-q", "--no-trunc")).StandardOutput;

        Assert.DoesNotContain("deleted:", beforeAnyOfThem, StringComparison.Ordinal);
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("invalid filter 'colour'", unknown.StandardError, StringComparison.Ordinal);
        Assert.Contains($"deleted: {web}", onlyWeb, StringComparison.Ordinal);
        Assert.DoesNotContain(db, onlyWeb, StringComparison.Ordinal);
        Assert.DoesNotContain(plain, onlyWeb, StringComparison.Ordinal);
        Assert.Contains($"deleted: {plain}", notLabelled, StringComparison.Ordinal);
        Assert.Equal(db + "\n", left);
    }

    [Fact]
    public async Task ImagePruneRemovesADanglingImageAndReportsTheSpaceItFreed()
    {
        var old = (await DockerAsync("import", await RootfsAsync("old", 3000), "app:1")).StandardOutput.Trim();
        var current = (await DockerAsync("import", await RootfsAsync("new", 5000), "app:1")).StandardOutput.Trim();
        Assert.Equal(old + "\n", (await DockerAsync("images", "-q", "--no-trunc", "--filter", "dangling=true")).StandardOutput);
        var oldLayer = await InspectAsync(old, "{{index .RootFS.Layers 0}}");
        var oldSize = long.Parse(await InspectAsync(old, "{{.Size}}"), CultureInfo.InvariantCulture);
        Assert.True(oldSize > 0);
        Assert.Equal(2, Directory.EnumerateDirectories(LayersDirectory).Count());

        var pruned = (await DockerAsync("image", "prune", "-f")).StandardOutput;

        Assert.Contains($"deleted: {old}\n", pruned, StringComparison.Ordinal);
        Assert.Contains($"deleted: {oldLayer}\n", pruned, StringComparison.Ordinal);
        Assert.DoesNotContain(current, pruned, StringComparison.Ordinal);
        Assert.Contains($"Total reclaimed space: {HumanSize(oldSize)}\n", pruned, StringComparison.Ordinal);
        Assert.Equal(current + "\n", (await DockerAsync("images", "-q", "--no-trunc")).StandardOutput);
        Assert.Contains($"No such image: {old}", (await Command.DockerAsync(Host, "image", "inspect", old)).StandardError, StringComparison.Ordinal);
        var currentLayer = await InspectAsync(current, "{{index .RootFS.Layers 0}}");
        Assert.Equal([Hex(currentLayer)], Directory.EnumerateDirectories(LayersDirectory).Select(Path.GetFileName));
        Assert.Contains("Total reclaimed space: 0B", (await DockerAsync("image", "prune", "-f")).StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALayerSharedByTwoImagesOutlivesTheFirstRmiAndGoesWithTheLast()
    {
        var rootfs = await RootfsAsync("shared");
        var one = (await DockerAsync("import", "--change", "ENV WHO=one", rootfs, "one:1")).StandardOutput.Trim();
        var two = (await DockerAsync("import", "--change", "ENV WHO=two", rootfs, "two:1")).StandardOutput.Trim();
        Assert.NotEqual(one, two);
        var layer = await InspectAsync("one:1", "{{index .RootFS.Layers 0}}");
        Assert.Equal(layer, await InspectAsync("two:1", "{{index .RootFS.Layers 0}}"));
        var disk = await InspectAsync("two:1", "{{.GraphDriver.Data.Layers}}");
        Assert.Equal(Path.Combine(LayersDirectory, Hex(layer), "layer.vmdk"), disk);
        Assert.True(File.Exists(disk));

        var first = (await DockerAsync("rmi", "one:1")).StandardOutput;

        Assert.Equal($"Untagged: one:1\nDeleted: {one}\n", first);
        Assert.Equal("[WHO=two]", await InspectAsync("two:1", "{{.Config.Env}}"));
        Assert.True(File.Exists(disk), "the layer two:1 still uses was deleted");

        var last = (await DockerAsync("rmi", "two:1")).StandardOutput;

        Assert.Equal($"Untagged: two:1\nDeleted: {two}\nDeleted: {layer}\n", last);
        Assert.False(File.Exists(disk));
        Assert.Empty(Directory.EnumerateFileSystemEntries(LayersDirectory));
    }

    [Fact]
    public async Task ImportFromAUrlDownloadsTheRootfs()
    {
        var rootfs = await RootfsAsync("from-url", 20000);
        var bytes = await File.ReadAllBytesAsync(rootfs);
        var port = EndpointProcess.FreePort();
        using var server = new HttpListener();
        server.Prefixes.Add($"http://127.0.0.1:{port}/");
        server.Start();
        var requests = new List<string>();
        var serving = Task.Run(async () =>
        {
            while (true)
            {
                HttpListenerContext context;
                try
                {
                    context = await server.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                lock (requests)
                {
                    requests.Add(context.Request.HttpMethod + " " + context.Request.Url!.AbsolutePath);
                }

                if (context.Request.Url!.AbsolutePath == "/rootfs.tar")
                {
                    context.Response.ContentType = "application/x-tar";
                    context.Response.ContentLength64 = bytes.Length;
                    await context.Response.OutputStream.WriteAsync(bytes);
                }
                else
                {
                    context.Response.StatusCode = 404;
                }

                context.Response.Close();
            }
        });

        var imported = await DockerAsync("import", "--change", "CMD [\"/from-url\"]", $"http://127.0.0.1:{port}/rootfs.tar", "fromurl:1");
        var broken = await Command.DockerAsync(Host, "import", $"http://127.0.0.1:{port}/nosuch.tar", "nosuch:1");
        server.Stop();
        await serving;

        Assert.StartsWith("sha256:", imported.StandardOutput, StringComparison.Ordinal);
        lock (requests)
        {
            Assert.Equal(["GET /rootfs.tar", "GET /nosuch.tar"], requests);
        }

        Assert.Equal(Digest(bytes), await InspectAsync("fromurl:1", "{{index .RootFS.Layers 0}}"));
        Assert.Equal(bytes.Length.ToString(CultureInfo.InvariantCulture), await InspectAsync("fromurl:1", "{{.Size}}"));
        Assert.Equal("[/from-url]", await InspectAsync("fromurl:1", "{{.Config.Cmd}}"));
        Assert.NotEqual(0, broken.ExitCode);
        Assert.Contains($"import source http://127.0.0.1:{port}/nosuch.tar answered 404", broken.StandardError, StringComparison.Ordinal);
        Assert.Equal(["fromurl:1"], await NamesAsync());
    }

    [Fact]
    public async Task SystemDfCountsEachLayerOnceWithTheSizesDockerImagesShows()
    {
        var shared = await RootfsAsync("shared", 30000);
        await DockerAsync("import", "--change", "ENV WHO=a", shared, "a:1");
        await DockerAsync("import", "--change", "ENV WHO=b", shared, "b:1");
        await DockerAsync("import", await RootfsAsync("alone", 70000), "c:1");
        var sizes = new Dictionary<string, long>();
        foreach (var name in new[] { "a:1", "b:1", "c:1" })
        {
            sizes[name] = long.Parse(await InspectAsync(name, "{{.Size}}"), CultureInfo.InvariantCulture);
        }

        Assert.Equal(sizes["a:1"], sizes["b:1"]);
        Assert.True(sizes["c:1"] > sizes["a:1"]);
        var listed = (await DockerAsync("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order();
        Assert.Equal(sizes.Select(s => $"{s.Key} {HumanSize(s.Value, 3)}").Order(), listed);

        var df = (await DockerAsync("system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}")).StandardOutput;

        var total = sizes["a:1"] + sizes["c:1"];
        Assert.Contains($"Images|3|0|{HumanSize(total)}|{HumanSize(total)} (100%)\n", df, StringComparison.Ordinal);
        using var verbose = JsonDocument.Parse((await DockerAsync("system", "df", "-v", "--format", "{{json .}}")).StandardOutput);
        var perImage = verbose.RootElement.GetProperty("Images").EnumerateArray().ToDictionary(
            i => i.GetProperty("Repository").GetString() + ":" + i.GetProperty("Tag").GetString(),
            i => $"{i.GetProperty("Size").GetString()} {i.GetProperty("SharedSize").GetString()} {i.GetProperty("UniqueSize").GetString()}");
        Assert.Equal($"{HumanSize(sizes["a:1"], 3)} {HumanSize(sizes["a:1"])} 0B", perImage["a:1"]);
        Assert.Equal($"{HumanSize(sizes["b:1"], 3)} {HumanSize(sizes["b:1"])} 0B", perImage["b:1"]);
        Assert.Equal($"{HumanSize(sizes["c:1"], 3)} 0B {HumanSize(sizes["c:1"])}", perImage["c:1"]);
    }

    /// <summary>docker's units.HumanSizeWithPrecision: decimal units, <paramref name="precision"/> significant digits.</summary>
    private static string HumanSize(long bytes, int precision = 4)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1000 && unit < units.Length - 1)
        {
            value /= 1000;
            unit++;
        }

        return value.ToString("G" + precision, CultureInfo.InvariantCulture) + units[unit];
    }

    private static string Digest(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string Hex(string digest) => digest["sha256:".Length..];

    /// <summary>A root filesystem tar of one file whose content is unique to <paramref name="name"/>.</summary>
    private async Task<string> RootfsAsync(string name, int size = 100)
    {
        var directory = Directory.CreateDirectory(_home.Combine("rootfs-" + name)).FullName;
        var content = new byte[size];
        RandomNumberGenerator.Fill(content);
        await File.WriteAllBytesAsync(Path.Combine(directory, name), content);
        var tar = _home.Combine(name + ".tar");
        var made = await Command.RunAsync("tar", ["-C", directory, "-cf", tar, name]);
        Assert.True(made.ExitCode == 0, made.ToString());
        return tar;
    }

    private async Task<string[]> NamesAsync(params string[] arguments) =>
        [.. (await DockerAsync(["images", "--format", "{{.Repository}}:{{.Tag}}", .. arguments])).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];

    private async Task<string> InspectAsync(string image, string format) =>
        (await DockerAsync("image", "inspect", "--format", format, image)).StandardOutput.TrimEnd('\n');

    private async Task<CommandResult> DockerAsync(params string[] arguments)
    {
        var result = await Command.DockerAsync(Host, arguments);
        Assert.True(result.ExitCode == 0, $"docker {string.Join(' ', arguments)}: {result}\nendpoint:\n{_endpoint.Output}");
        return result;
    }
}
