using System.Formats.Tar;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Vic.Api.Tests;

/// <summary>
/// <c>POST /build</c> and <c>POST /build/prune</c> over real HTTP, with steps that need no ContainerVM
/// (this VCH has no backend): dockerd's stream, the cache, intermediate images and what bad input gets.
/// </summary>
public sealed class BuildEndpointTests : InProcessVchTest
{
    private const string Dockerfile = "FROM tiny:1\nENV MODE=test\nLABEL team=vic\nCMD [\"/hello\"]\n";

    [Fact]
    public async Task AConfigOnlyBuildStreamsDockerdsLinesAndARebuildIsAllCacheWithTheSameId()
    {
        await CreateContainerAsync();
        var (status, first) = await BuildAsync(Context(Dockerfile), "t=app:1");
        var (_, again) = await BuildAsync(Context(Dockerfile), "t=app:1");
        var (_, fresh) = await BuildAsync(Context(Dockerfile), "t=app:2&nocache=1");
        using var inspect = JsonDocument.Parse(await Client.GetStringAsync(new Uri("/images/app:1/json", UriKind.Relative)));
        var config = inspect.RootElement.GetProperty("Config");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(
            ["Step 1/4 : FROM tiny:1\n", "Step 2/4 : ENV MODE=test\n", "Step 3/4 : LABEL team=vic\n", "Step 4/4 : CMD [\"/hello\"]\n"],
            Streams(first).Where(s => s.StartsWith("Step", StringComparison.Ordinal)));
        Assert.Equal(Id(first), inspect.RootElement.GetProperty("Id").GetString());
        Assert.Contains($"Successfully built {Id(first)[7..19]}\n", Streams(first));
        Assert.Contains("Successfully tagged app:1\n", Streams(first));
        Assert.Equal(3, Streams(again).Count(s => s == " ---> Using cache\n"));
        Assert.Equal(Id(first), Id(again));
        Assert.NotEqual(Id(first), Id(fresh));
        Assert.Contains("MODE=test", config.GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("vic", config.GetProperty("Labels").GetProperty("team").GetString());
    }

    [Fact]
    public async Task IntermediateImagesAreListedOnlyWithAllAndGoWithTheImageAndTheBuilderPrune()
    {
        await CreateContainerAsync();
        var (_, built) = await BuildAsync(Context(Dockerfile), "t=app:1");
        var listed = await ImageIdsAsync("");
        var all = await ImageIdsAsync("?all=1");
        using var conflict = await Client.DeleteAsync(new Uri($"/images/{all.First(i => i != Id(built) && !listed.Contains(i))}", UriKind.Relative));
        using var removed = await Client.DeleteAsync(new Uri("/images/app:1", UriKind.Relative));
        var deletions = JsonDocument.Parse(await removed.Content.ReadAsStringAsync()).RootElement.EnumerateArray().Count(d => d.TryGetProperty("Deleted", out _));
        var afterRemove = await ImageIdsAsync("?all=1");

        await BuildAsync(Context(Dockerfile), "t=app:3");
        using var prune = await Client.PostAsync(new Uri("/build/prune", UriKind.Relative), null);
        using var pruned = JsonDocument.Parse(await prune.Content.ReadAsStringAsync());
        var afterPrune = await ImageIdsAsync("?all=1");

        Assert.Equal(2, listed.Count); // tiny:1 and app:1
        Assert.Equal(4, all.Count); // and the unnamed images of the ENV and LABEL steps
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Equal(3, deletions); // app:1 and its two unnamed parents, not tiny:1
        Assert.Single(afterRemove);
        Assert.Equal(HttpStatusCode.OK, prune.StatusCode);
        Assert.Equal(2, pruned.RootElement.GetProperty("CachesDeleted").GetArrayLength());
        Assert.Equal(2, afterPrune.Count); // tiny:1 and app:3 stay; the cache of its steps went
    }

    [Fact]
    public async Task AStagesBareArgTakesTheDefaultFromBeforeTheFirstFromAndAnEmptyCacheFromKeepsTheCache()
    {
        await CreateContainerAsync();
        const string Text = "ARG FLAVOUR=vanilla\nFROM tiny:1\nARG FLAVOUR\nLABEL flavour=$FLAVOUR\n";
        var (_, first) = await BuildAsync(Context(Text), "t=arg:1");
        var (_, again) = await BuildAsync(Context(Text), "t=arg:1&cachefrom=%5B%5D");
        using var inspect = JsonDocument.Parse(await Client.GetStringAsync(new Uri("/images/arg:1/json", UriKind.Relative)));

        Assert.Equal("vanilla", inspect.RootElement.GetProperty("Config").GetProperty("Labels").GetProperty("flavour").GetString());
        Assert.Equal(Id(first), Id(again));
    }

    [Theory]
    [InlineData("version=2", "BuildKit is not supported")]
    [InlineData("buildargs=%7Bnot", "invalid buildargs")]
    [InlineData("t=UPPER:case", "invalid reference format")]
    [InlineData("squash=1", "squash is not supported")]
    [InlineData("platform=linux/arm64", "linux/amd64 only")]
    public async Task OptionsItCannotHonourAre400AndNameTheOption(string query, string message)
    {
        using var response = await Client.PostAsync(new Uri("/build?" + query, UriKind.Relative), new ByteArrayContent(Context(Dockerfile)));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(message, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABadContextIs400AndABadDockerfileOrAMissingBackendEndsTheStreamWithAnError()
    {
        await CreateContainerAsync();
        using var garbage = await Client.PostAsync(new Uri("/build", UriKind.Relative), new ByteArrayContent([0x1f, 0x8b, 0, 1, 2, 3, 4, 5, 6, 7]));
        var (status, unknown) = await BuildAsync(Context("FROM tiny:1\nFETCH x\n"), "");
        var (_, run) = await BuildAsync(Context("FROM tiny:1\nRUN true\n"), "");

        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("dockerfile parse error on line 2: unknown instruction: FETCH", Error(unknown));
        Assert.Contains("no compute backend", Error(run), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARemoteContextThatCannotBeFetchedIs400AndSaysWhy()
    {
        // A port nothing listens on (taken and let go) and a server that answers 404 (this VCH).
        int closedPort;
        using (var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var refusedUrl = $"http://127.0.0.1:{closedPort}/context.tar";
        var missingUrl = new Uri(Client.BaseAddress!, "/no/such/context.tar").ToString();
        using var refused = await Client.PostAsync(new Uri($"/build?remote={Uri.EscapeDataString(refusedUrl)}", UriKind.Relative), null);
        using var missing = await Client.PostAsync(new Uri($"/build?remote={Uri.EscapeDataString(missingUrl)}", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains($"unable to prepare context: failed to GET {refusedUrl}: ", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains($"unable to prepare context: failed to GET {missingUrl} with status 404", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private async Task<(HttpStatusCode Status, List<JsonElement> Messages)> BuildAsync(byte[] context, string query)
    {
        using var response = await Client.PostAsync(new Uri("/build?" + query, UriKind.Relative), new ByteArrayContent(context));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, [.. text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)]);
    }

    private async Task<List<string>> ImageIdsAsync(string query)
    {
        using var json = JsonDocument.Parse(await Client.GetStringAsync(new Uri("/images/json" + query, UriKind.Relative)));
        return [.. json.RootElement.EnumerateArray().Select(i => i.GetProperty("Id").GetString()!)];
    }

    private static IEnumerable<string> Streams(List<JsonElement> messages) =>
        messages.Where(m => m.TryGetProperty("stream", out _)).Select(m => m.GetProperty("stream").GetString()!);

    private static string Id(List<JsonElement> messages) =>
        messages.Single(m => m.TryGetProperty("aux", out _)).GetProperty("aux").GetProperty("ID").GetString()!;

    private static string Error(List<JsonElement> messages) =>
        messages.Single(m => m.TryGetProperty("errorDetail", out _)).GetProperty("errorDetail").GetProperty("message").GetString()!;

    private static byte[] Context(string dockerfile)
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "Dockerfile") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(dockerfile)) });
        }

        return buffer.ToArray();
    }
}
