using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Vic.Api.Tests;

/// <summary>
/// Malformed paths, query strings and bodies thrown at every route: each answer is dockerd's kind
/// of refusal (4xx, or the 501/503 some routes give by design), never a 500, and the endpoint
/// still serves afterwards. Routes that reach a registry (pull, push, distribution) are left to the
/// registry fault tests: from here, a well-formed name would send them to an unreachable Docker Hub.
/// </summary>
public sealed class MalformedInputPropertyTests : InProcessVchTest
{
    private static readonly (string Method, string Path)[] Routes =
    [
        ("GET", "/_ping"), ("GET", "/version"), ("GET", "/info"), ("GET", "/system/df"), ("POST", "/auth"),
        ("GET", "/containers/json"), ("POST", "/containers/create"), ("POST", "/containers/prune"),
        ("GET", "/containers/{id}/json"), ("GET", "/containers/{id}/top"), ("GET", "/containers/{id}/logs"), ("GET", "/containers/{id}/changes"),
        ("GET", "/containers/{id}/export"), ("GET", "/containers/{id}/stats"), ("POST", "/containers/{id}/resize"), ("POST", "/containers/{id}/start"),
        ("POST", "/containers/{id}/stop"), ("POST", "/containers/{id}/restart"), ("POST", "/containers/{id}/kill"), ("POST", "/containers/{id}/update"),
        ("POST", "/containers/{id}/rename"), ("POST", "/containers/{id}/pause"), ("POST", "/containers/{id}/unpause"), ("POST", "/containers/{id}/wait"),
        ("DELETE", "/containers/{id}"), ("GET", "/containers/{id}/archive"), ("HEAD", "/containers/{id}/archive"), ("PUT", "/containers/{id}/archive"),
        ("POST", "/containers/{id}/exec"), ("POST", "/exec/{id}/start"), ("POST", "/exec/{id}/resize"), ("GET", "/exec/{id}/json"),
        ("POST", "/containers/{id}/attach"),
        ("GET", "/images/json"), ("GET", "/images/{id}/json"), ("GET", "/images/{id}/history"), ("POST", "/images/{id}/tag"), ("DELETE", "/images/{id}"), ("GET", "/images/{id}/get"), ("GET", "/images/get"), ("POST", "/images/load"),
        ("POST", "/images/prune"), ("POST", "/commit"),
        ("GET", "/networks"), ("POST", "/networks/create"), ("GET", "/networks/{id}"), ("DELETE", "/networks/{id}"), ("POST", "/networks/{id}/connect"),
        ("POST", "/networks/{id}/disconnect"), ("POST", "/networks/prune"),
        ("GET", "/volumes"), ("POST", "/volumes/create"), ("GET", "/volumes/{id}"), ("DELETE", "/volumes/{id}"), ("POST", "/volumes/prune"),
        ("GET", "/events"), ("POST", "/build"), ("POST", "/build/prune"), ("GET", "/swarm"), ("POST", "/swarm/leave"), ("GET", "/plugins"), ("GET", "/plugins/{id}/json"),
    ];

    private static readonly string[] QueryKeys =
    [
        "t", "h", "w", "limit", "all", "size", "filters", "since", "until", "tail", "follow", "stdout", "stderr", "timestamps", "signal", "condition",
        "name", "fromImage", "fromSrc", "tag", "repo", "force", "noprune", "v", "link", "path", "stream", "logs", "stdin", "detachKeys", "ps_args",
        "container", "pause", "changes", "comment", "author", "one-shot", "platform", "quiet", "dangling", "names",
    ];

    private static readonly string[] Fragments =
    [
        "", "0", "-1", "1", "true", "false", "abc", "99999999999999999999", "1.5", "{", "}", "[", "]", "{}", "[]", "null", "\"", "'", "%", "%zz", "%00",
        "..", "../..", "/", "//", "\\", "{\"a\":", "{\"a\":{\"b\":[1,2]}}", "[\"x\"]", "{\"label\":[\"a=b\"]}", "{\"until\":{\"x\":true}}",
        "\u00e9\u4e2d", "sha256:", "sha256:zz", "a:b:c", "-", "x=y", "busybox", "busybox:latest", new string('a', 300), "ALL", "SIGKILL", "9",
    ];

    private static readonly string[] BodyFields =
    [
        "Image", "Cmd", "Entrypoint", "Env", "Labels", "HostConfig", "Memory", "NanoCpus", "Binds", "Mounts", "PortBindings", "RestartPolicy",
        "NetworkingConfig", "EndpointsConfig", "Name", "Driver", "DriverOpts", "IPAM", "Config", "Subnet", "Container", "Detach", "Tty",
        "AttachStdout", "User", "WorkingDir", "ExposedPorts", "Healthcheck", "StopTimeout", "Options", "Internal", "EnableIPv6", "Aliases",
    ];

    [Fact]
    public async Task NoMalformedRequestGetsA500AndTheEndpointServesAfterwards()
    {
        var created = await CreateContainerAsync("target");
        var ids = new[] { created, created[..12], "nosuch", "tiny:1", "bridge", "sha256:" + new string('0', 64) };
        var requests = Gen.Sized(size => Gen.Choose(0, Routes.Length - 1).SelectMany(route =>
            Gen.Elements(ids.Concat(Fragments).ToArray()).SelectMany(id =>
            Gen.ListOf(Gen.Elements(QueryKeys).SelectMany(k => Gen.Elements(Fragments).Select(v => (k, v)))).SelectMany(query =>
            Body().Select(body => (Route: Routes[route], Id: id, Query: query.ToArray(), Body: body))))));

        var failures = new List<string>();
        Prop.ForAll(requests.ToArbitrary(), request =>
        {
            var (status, text) = SendAsync(request.Route.Method, request.Route.Path, request.Id, request.Query, request.Body).GetAwaiter().GetResult();
            if (status >= 500 && status is not (501 or 503))
            {
                lock (failures)
                {
                    failures.Add($"{request.Route.Method} {request.Route.Path} id={request.Id} -> {status} {text}");
                }

                return false;
            }

            return true;
        }).Check(Config.Quick.WithMaxTest(400).WithQuietOnSuccess(true));

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        using var ping = await Client.GetAsync(new Uri("/_ping", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
    }

    /// <summary>A body: nothing, a fragment, or an object of known field names holding values of any JSON type.</summary>
    private static Gen<string?> Body()
    {
        var value = Gen.OneOf(
            Gen.Elements("1", "-5", "1e400", "true", "null", "\"x\"", "\"\"", "[]", "[1,\"a\",null]", "{}", "{\"a\":1}", "{\"Name\":\"x\",\"Type\":\"tmpfs\"}", "[{\"Type\":\"bind\"}]"),
            Gen.Elements(Fragments).Select(f => System.Text.Json.JsonSerializer.Serialize(f)));
        var member = Gen.Elements(BodyFields).SelectMany(name => value.Select(v => $"\"{name}\":{v}"));
        var obj = Gen.ListOf(member).Select(members => "{" + string.Join(",", members) + "}");
        return Gen.OneOf(Gen.Constant<string?>(null), Gen.Elements(Fragments).Select(f => (string?)f), obj.Select(o => (string?)o));
    }

    private async Task<(int Status, string Text)> SendAsync(string method, string path, string id, (string Key, string Value)[] query, string? body)
    {
        var target = path.Replace("{id}", Uri.EscapeDataString(id), StringComparison.Ordinal)
                     + (query.Length == 0 ? "" : "?" + string.Join("&", query.Select(q => $"{q.Key}={Uri.EscapeDataString(q.Value)}")));
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(target, UriKind.Relative));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            var text = status >= 500 ? await response.Content.ReadAsStringAsync(timeout.Token) : "";
            return (status, text);
        }
        catch (OperationCanceledException)
        {
            // A stream that stays open (events, logs -f, stats) answered with its head: not a failure.
            return (200, "");
        }
    }
}
