using System.Net;
using System.Text.Json;
using Vic.PortLayer.Containers;
using Vic.TestSupport;

namespace Vic.Api.Tests;

/// <summary>The byte-level contract of /_ping, /version, /info and the error shape, over real HTTP.</summary>
public sealed class SystemEndpointTests : InProcessVchTest
{
    [Theory]
    [InlineData("/_ping")]
    [InlineData("/v1.24/_ping")]
    [InlineData("/v1.47/_ping")]
    public async Task PingAnswersOkWithDockerHeaders(string path)
    {
        using var response = await Client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("OK", await response.Content.ReadAsStringAsync());
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        AssertDockerHeaders(response);
        Assert.Equal("1", Header(response, "Builder-Version"));
        Assert.Equal("no-cache, no-store, must-revalidate", Header(response, "Cache-Control"));
        Assert.Equal("no-cache", Header(response, "Pragma"));
    }

    [Fact]
    public async Task HeadPingHasHeadersAndNoBody()
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, "/_ping");
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertDockerHeaders(response);
        Assert.Equal("1", Header(response, "Builder-Version"));
        Assert.Equal("no-cache, no-store, must-revalidate", Header(response, "Cache-Control"));
        Assert.Equal(0, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("/v1.23/version", "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")]
    [InlineData("/v1.12/info", "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")]
    [InlineData("/v1.48/version", "client version 1.48 is too new. Maximum supported API version is 1.47")]
    [InlineData("/v2.0/_ping", "client version 2.0 is too new. Maximum supported API version is 1.47")]
    [InlineData("/v1.2.3/version", "invalid API version: 1.2.3")]
    public async Task VersionsOutsideTheRangeAreRefusedWith400(string path, string message)
    {
        using var response = await Client.GetAsync(new Uri(path, UriKind.Relative));

        await AssertDockerErrorAsync(response, HttpStatusCode.BadRequest, message);
    }

    [Fact]
    public async Task DiskUsageCountsOnlyTheKindsAskedForAndRefusesAnUnknownOne()
    {
        using var some = await Client.GetAsync(new Uri("/v1.47/system/df?type=volume&type=container", UriKind.Relative));
        using var someJson = await ReadJsonAsync(some);
        using var older = await Client.GetAsync(new Uri("/v1.41/system/df?type=volume", UriKind.Relative));
        using var olderJson = await ReadJsonAsync(older);
        using var unknown = await Client.GetAsync(new Uri("/v1.47/system/df?type=nope", UriKind.Relative));

        Assert.Equal(JsonValueKind.Array, someJson.RootElement.GetProperty("Volumes").ValueKind);
        Assert.Equal(JsonValueKind.Array, someJson.RootElement.GetProperty("Containers").ValueKind);
        Assert.True(!someJson.RootElement.TryGetProperty("Images", out var images) || images.ValueKind == JsonValueKind.Null, "images were counted though not asked for");
        Assert.True(!someJson.RootElement.TryGetProperty("BuildCache", out var cache) || cache.ValueKind == JsonValueKind.Null, "the build cache was counted though not asked for");
        Assert.Equal(JsonValueKind.Array, olderJson.RootElement.GetProperty("Images").ValueKind);
        await AssertDockerErrorAsync(unknown, HttpStatusCode.BadRequest, "unknown object type: nope");
    }

    [Fact]
    public async Task VersionReportsTheNegotiationRange()
    {
        using var response = await Client.GetAsync(new Uri("/v1.30/version", UriKind.Relative));
        using var json = await ReadJsonAsync(response);
        var root = json.RootElement;

        Assert.Equal("1.47", root.GetProperty("ApiVersion").GetString());
        Assert.Equal("1.24", root.GetProperty("MinAPIVersion").GetString());
        Assert.Equal("linux", root.GetProperty("Os").GetString());
        var engine = root.GetProperty("Components")[0];
        Assert.Equal("Engine", engine.GetProperty("Name").GetString());
        Assert.Equal("1.24", engine.GetProperty("Details").GetProperty("MinAPIVersion").GetString());
        Assert.Equal(root.GetProperty("Version").GetString(), engine.GetProperty("Version").GetString());
    }

    [Fact]
    public async Task InfoCountsContainersByStateFromThePortLayer()
    {
        var catalog = Vch.Engine.Containers;
        var running = catalog.Create(new NewContainer("web", "busybox"));
        catalog.Transition(running.Id, (who, s) => s.Start(who, DateTimeOffset.UtcNow), "start");
        var paused = catalog.Create(new NewContainer("frozen", "busybox"));
        catalog.Transition(paused.Id, (who, s) => s.Start(who, DateTimeOffset.UtcNow), "start");
        catalog.Transition(paused.Id, (who, s) => s.Pause(who), "pause");
        catalog.Create(new NewContainer(null, "busybox"));

        using var response = await Client.GetAsync(new Uri("/info", UriKind.Relative));
        using var json = await ReadJsonAsync(response);
        var root = json.RootElement;

        Assert.Equal(3, root.GetProperty("Containers").GetInt32());
        Assert.Equal(1, root.GetProperty("ContainersRunning").GetInt32());
        Assert.Equal(1, root.GetProperty("ContainersPaused").GetInt32());
        Assert.Equal(1, root.GetProperty("ContainersStopped").GetInt32());
        Assert.Equal(0, root.GetProperty("Images").GetInt64());
        Assert.Equal(2, root.GetProperty("NCPU").GetInt32());
        Assert.Equal(2L << 30, root.GetProperty("MemTotal").GetInt64());
        Assert.Equal("test-vch", root.GetProperty("Name").GetString());
        Assert.Equal(Vch.Engine.Id, root.GetProperty("ID").GetString());
        Assert.Equal("inactive", root.GetProperty("Swarm").GetProperty("LocalNodeState").GetString());
        Assert.Contains(
            root.GetProperty("DriverStatus").EnumerateArray(),
            pair => pair[0].GetString() == "VCH CPU limit" && pair[1].GetString() == "2 vCPU");
    }

    [Theory]
    [InlineData("/nosuch")]
    [InlineData("/v1.40/nosuch/thing")]
    public async Task UnknownPathsAre404PageNotFound(string path)
    {
        using var response = await Client.GetAsync(new Uri(path, UriKind.Relative));

        await AssertDockerErrorAsync(response, HttpStatusCode.NotFound, "page not found");
    }

    [Theory]
    [InlineData("GET", "/containers/web/attach/ws")]
    [InlineData("POST", "/session")]
    public async Task DockerRoutesNotBuiltYetAre501(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotImplemented, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.ToString());
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains("not implemented", json.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnixSocketServesTheSameApi()
    {
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(Vch.Home.Combine("docker.sock")), cancellationToken);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        };
        using var client = new HttpClient(handler) { BaseAddress = new Uri("http://docker") };

        using var response = await client.GetAsync(new Uri("/v1.47/_ping", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("1.47", Header(response, "Api-Version"));
    }

    [Fact]
    public async Task MetricsExposeRequestsAndContainersInPrometheusFormat()
    {
        Vch.Engine.Containers.Create(new NewContainer("counted", "busybox"));
        (await Client.GetAsync(new Uri("/_ping", UriKind.Relative))).Dispose();

        using var response = await Client.GetAsync(new Uri("/metrics", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain; version=0.0.4", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        Assert.Contains("# TYPE vch_http_requests_total counter", text, StringComparison.Ordinal);
        Assert.Contains("vch_http_requests_total{method=\"GET\",route=\"/_ping\",status=\"200\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE vch_http_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("vch_containers{state=\"created\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("vch_events_published_total 1", text, StringComparison.Ordinal);
    }

    internal static async Task AssertDockerErrorAsync(HttpResponseMessage response, HttpStatusCode status, string message)
    {
        Assert.Equal(status, response.StatusCode);

        // Exactly application/json: with "; charset=utf-8" the docker CLI prints the raw JSON.
        Assert.Equal("application/json", response.Content.Headers.ContentType!.ToString());
        Assert.Equal($"{{\"message\":{JsonSerializer.Serialize(message)}}}", await response.Content.ReadAsStringAsync());
    }

    private static void AssertDockerHeaders(HttpResponseMessage response)
    {
        Assert.Equal("1.47", Header(response, "Api-Version"));
        Assert.Equal("linux", Header(response, "Ostype"));
        Assert.Equal("false", Header(response, "Docker-Experimental"));
        Assert.StartsWith("Docker/", Header(response, "Server"), StringComparison.Ordinal);
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    private static async Task<JsonDocument> ReadJsonAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.ToString());
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }
}
