using System.Net;
using System.Text.Json;
using Vic.PortLayer.Containers;
using Vic.TestSupport;

namespace Vic.Api.Tests;

/// <summary><c>GET /events</c> over real HTTP: immediate headers, one JSON object per line, since/until/filters.</summary>
public sealed class EventsEndpointTests : InProcessVchTest
{
    [Fact]
    public async Task HeadersArriveBeforeAnyEventAndLiveEventsFollowOneLineEach()
    {
        using var response = await Client.GetAsync(new Uri("/v1.47/events", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.ToString());
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var created = Vch.Engine.Containers.Create(new NewContainer("live", "busybox", new Dictionary<string, string> { ["tier"] = "web" }));
        Vch.Engine.Containers.Transition(created.Id, (who, s) => s.Start(who, DateTimeOffset.UtcNow), "start");

        using var first = JsonDocument.Parse((await ReadLineAsync(reader))!);
        using var second = JsonDocument.Parse((await ReadLineAsync(reader))!);
        var e = first.RootElement;
        Assert.Equal("container", e.GetProperty("Type").GetString());
        Assert.Equal("create", e.GetProperty("Action").GetString());
        Assert.Equal("create", e.GetProperty("status").GetString());
        Assert.Equal(created.Id, e.GetProperty("id").GetString());
        Assert.Equal("busybox", e.GetProperty("from").GetString());
        Assert.Equal("local", e.GetProperty("scope").GetString());
        Assert.Equal(created.Id, e.GetProperty("Actor").GetProperty("ID").GetString());
        var attributes = e.GetProperty("Actor").GetProperty("Attributes");
        Assert.Equal("live", attributes.GetProperty("name").GetString());
        Assert.Equal("web", attributes.GetProperty("tier").GetString());
        Assert.Equal(e.GetProperty("timeNano").GetInt64() / 1_000_000_000, e.GetProperty("time").GetInt64());
        Assert.Equal("start", second.RootElement.GetProperty("Action").GetString());
    }

    [Fact]
    public async Task SinceAndUntilInThePastReplayHistoryAndEnd()
    {
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        var a = Vch.Engine.Containers.Create(new NewContainer("aa", "busybox"));
        var b = Vch.Engine.Containers.Create(new NewContainer("bb", "alpine"));
        var until = DateTimeOffset.UtcNow.AddMilliseconds(1);
        await Task.Delay(20);
        Vch.Engine.Containers.Create(new NewContainer("after-until", "busybox"));

        var lines = await ReadAllLinesAsync($"/events?since={Unix(before)}&until={Unix(until)}");

        Assert.Equal([a.Id, b.Id], lines.Select(l => l.RootElement.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task FiltersInBothWireShapesSelectEvents()
    {
        var since = DateTimeOffset.UtcNow.AddSeconds(-1);
        var web = Vch.Engine.Containers.Create(new NewContainer("web", "nginx", new Dictionary<string, string> { ["app"] = "shop" }));
        var db = Vch.Engine.Containers.Create(new NewContainer("db", "postgres", new Dictionary<string, string> { ["app"] = "shop" }));
        Vch.Engine.Containers.Transition(db.Id, (who, s) => s.Start(who, DateTimeOffset.UtcNow), "start");
        var until = Unix(DateTimeOffset.UtcNow.AddMilliseconds(1));

        var byList = await ReadAllLinesAsync($"/events?since={Unix(since)}&until={until}&filters=" +
            Uri.EscapeDataString("{\"event\":[\"start\"],\"label\":[\"app=shop\"]}"));
        var byMap = await ReadAllLinesAsync($"/events?since={Unix(since)}&until={until}&filters=" +
            Uri.EscapeDataString("{\"container\":{\"web\":true}}"));

        Assert.Equal([db.Id], byList.Select(l => l.RootElement.GetProperty("id").GetString()));
        Assert.Equal([web.Id], byMap.Select(l => l.RootElement.GetProperty("id").GetString()));
    }

    [Theory]
    [InlineData("/events?filters=%7Bnot-json", "invalid filter: ")]
    [InlineData("/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D", "invalid filter 'colour'")]
    [InlineData("/events?since=yesterday", "invalid value for since: yesterday")]
    public async Task BadParametersAre400(string path, string messageStart)
    {
        using var response = await Client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.ToString());
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.StartsWith(messageStart, json.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InfoCountsOpenEventListeners()
    {
        using var stream = await Client.GetAsync(new Uri("/events", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);

        using var info = JsonDocument.Parse(await Client.GetStringAsync(new Uri("/info", UriKind.Relative)));

        Assert.Equal(1, info.RootElement.GetProperty("NEventsListener").GetInt32());
    }

    private static string Unix(DateTimeOffset at)
    {
        var nanos = (at - DateTimeOffset.UnixEpoch).Ticks * 100;
        return $"{nanos / 1_000_000_000}.{nanos % 1_000_000_000:D9}";
    }

    private static async Task<string?> ReadLineAsync(StreamReader reader)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await reader.ReadLineAsync(limit.Token);
    }

    private async Task<List<JsonDocument>> ReadAllLinesAsync(string path)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var body = await Client.GetStringAsync(new Uri(path, UriKind.Relative), limit.Token);
        return [.. body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l))];
    }
}
