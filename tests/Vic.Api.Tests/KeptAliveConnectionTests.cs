using System.Net.Sockets;
using System.Text;

namespace Vic.Api.Tests;

/// <summary>
/// Requests on one kept-alive connection, written byte for byte as docker-py and compose write
/// them: a hijacked call (attach, exec start) may come after any number of ordinary ones, with
/// bodies of either framing before it, and is answered like every other route.
/// </summary>
public sealed class KeptAliveConnectionTests : InProcessVchTest
{
    private const string Attach = "POST /v1.47/containers/nosuch/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";

    [Fact]
    public async Task AttachAfterAnOrdinaryRequestIsServedAsAnAttachNotHandedToKestrel()
    {
        using var connection = await ConnectAsync();

        var ping = await connection.ExchangeAsync("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", ping, StringComparison.Ordinal);
        var attach = await connection.ExchangeAsync(Attach);

        Assert.StartsWith("HTTP/1.1 404", attach, StringComparison.Ordinal);
        Assert.Contains("No such container: nosuch", attach, StringComparison.Ordinal);
        Assert.Contains("Api-Version: 1.47", attach, StringComparison.Ordinal);
        Assert.Contains("Server: Docker/", attach, StringComparison.Ordinal);
        Assert.Contains("Ostype: linux", attach, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecStartAfterAChunkedBodyAndAContentLengthBodyIsServedAsAnExecStart()
    {
        using var connection = await ConnectAsync();
        var chunked = "POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      "5;ext=1\r\n{\"Ima\r\n" + "3\r\nge\"\r\n" + "a\r\n:\"nosuch:1\r\n" + "2\r\n\"}\r\n" + "0\r\nX-Trailer: y\r\n\r\n";
        var created = await connection.ExchangeAsync(chunked);
        Assert.StartsWith("HTTP/1.1 404", created, StringComparison.Ordinal);
        Assert.Contains("nosuch", created, StringComparison.Ordinal);

        const string body = "{\"Name\":\"v\"}";
        var sized = await connection.ExchangeAsync($"POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}");
        Assert.StartsWith("HTTP/1.1 201", sized, StringComparison.Ordinal);

        const string start = "{\"Detach\":false,\"Tty\":false}";
        var exec = await connection.ExchangeAsync($"POST /exec/nosuch/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {start.Length}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n{start}");

        Assert.StartsWith("HTTP/1.1 404", exec, StringComparison.Ordinal);
        Assert.Contains("No such exec instance: nosuch", exec, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHijackedCallIsRefusedWithTheVersionCheckEveryRouteHas()
    {
        using var connection = await ConnectAsync();
        await connection.ExchangeAsync("GET /version HTTP/1.1\r\nHost: x\r\n\r\n");

        var attach = await connection.ExchangeAsync(Attach.Replace("/v1.47/", "/v9.99/", StringComparison.Ordinal));

        Assert.StartsWith("HTTP/1.1 400", attach, StringComparison.Ordinal);
        Assert.Contains("client version 9.99 is too new. Maximum supported API version is 1.47", attach, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HijackedCallsAreCountedInTheRequestMetrics()
    {
        using (var connection = await ConnectAsync())
        {
            await connection.ExchangeAsync("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
            await connection.ExchangeAsync(Attach);
        }

        var metrics = await Client.GetStringAsync(new Uri("/metrics", UriKind.Relative));

        Assert.Contains("route=\"/containers/{id}/attach\"", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeptAliveRequestsAfterABodyOfManyMegabytesStillReachKestrel()
    {
        using var connection = await ConnectAsync();
        // 40 MB, over the 30 MB Kestrel caps bodies at by default; the image store reads it all and refuses it.
        var head = "POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n";
        await connection.WriteAsync(head);
        var chunk = new byte[1024 * 1024];
        Array.Fill(chunk, (byte)'a');
        for (var i = 0; i < 40; i++)
        {
            await connection.WriteAsync($"{chunk.Length:x}\r\n");
            await connection.WriteAsync(chunk);
            await connection.WriteAsync("\r\n");
        }

        // As dockerd: a 200 stream that ends with the archive's error.
        var loaded = await connection.ExchangeAsync("0\r\n\r\n");
        Assert.DoesNotContain("Request body too large", loaded, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", loaded, StringComparison.Ordinal);
        Assert.Contains("\"errorDetail\":{\"message\":\"invalid archive", loaded, StringComparison.Ordinal);

        var ping = await connection.ExchangeAsync("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", ping, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAttachStreamOutlivesTheTimersKestrelStartedForTheRequestsBeforeIt()
    {
        var id = await CreateContainerAsync();
        using var connection = await ConnectAsync();
        await connection.ExchangeAsync("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");

        var head = await connection.ExchangeHeadAsync($"POST /containers/{id}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 101 UPGRADED", head, StringComparison.Ordinal);
        // Kestrel gives a connection 5 s to drain after its last response, then resets it.
        Assert.False(await connection.ClosedByServerAsync(TimeSpan.FromSeconds(8)), "the attach stream is still open");
    }

    [Theory]
    [InlineData("/v1.41", "Upgrade: tcp\r\nConnection: Upgrade\r\n", false, "101 UPGRADED", "application/vnd.docker.raw-stream")]
    [InlineData("/v1.42", "Upgrade: tcp\r\nConnection: Upgrade\r\n", false, "101 UPGRADED", "application/vnd.docker.multiplexed-stream")]
    [InlineData("", "Upgrade: tcp\r\nConnection: Upgrade\r\n", false, "101 UPGRADED", "application/vnd.docker.multiplexed-stream")]
    [InlineData("/v1.47", "Upgrade: tcp\r\nConnection: Upgrade\r\n", true, "101 UPGRADED", "application/vnd.docker.raw-stream")]
    [InlineData("/v1.47", "", false, "200 OK", "application/vnd.docker.raw-stream")]
    public async Task AStreamIsTypedAsDockerdTypesItForTheVersionAsked(string version, string upgrade, bool tty, string status, string type)
    {
        var id = await CreateContainerAsync(tty: tty);
        using var connection = await ConnectAsync();

        var head = await connection.ExchangeHeadAsync($"POST {version}/containers/{id}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{upgrade}\r\n");

        Assert.StartsWith($"HTTP/1.1 {status}", head, StringComparison.Ordinal);
        Assert.Contains($"Content-Type: {type}\r\n", head, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GarbageOnAKeptAliveConnectionIsKestrelsToRefuse()
    {
        using var connection = await ConnectAsync();
        await connection.ExchangeAsync("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");

        var answer = await connection.ExchangeAsync("NOT HTTP AT ALL\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.True(await connection.ClosedByServerAsync(TimeSpan.FromSeconds(20)), "the server closes the connection after refusing garbage");
    }

    private async Task<RawConnection> ConnectAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync(Vch.Address.Host, Vch.Address.Port);
        return new RawConnection(client);
    }

    /// <summary>A client that writes requests as given and reads one whole response (head and, by its framing, body).</summary>
    private sealed class RawConnection(TcpClient client) : IDisposable
    {
        private readonly NetworkStream _stream = client.GetStream();
        private readonly List<byte> _pending = [];

        public Task WriteAsync(string text) => WriteAsync(Encoding.ASCII.GetBytes(text));

        public async Task WriteAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

        /// <summary>Sends a request and reads only the head of its response (a hijacked stream has no framed body).</summary>
        public async Task<string> ExchangeHeadAsync(string request)
        {
            await WriteAsync(request);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            return Encoding.ASCII.GetString(await ReadUntilAsync(() => IndexOf("\r\n\r\n") is var end and >= 0 ? end + 4 : -1, timeout.Token));
        }

        public async Task<string> ExchangeAsync(string request)
        {
            await WriteAsync(request);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var head = await ReadUntilAsync(() => IndexOf("\r\n\r\n") is var end and >= 0 ? end + 4 : -1, timeout.Token);
            var text = Encoding.ASCII.GetString(head);
            var length = HeaderValue(text, "Content-Length") is { } value ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
            if (HeaderValue(text, "Transfer-Encoding") is not null)
            {
                var chunks = new StringBuilder();
                while (true)
                {
                    var line = Encoding.ASCII.GetString(await ReadUntilAsync(() => IndexOf("\r\n") is var end and >= 0 ? end + 2 : -1, timeout.Token)).Trim();
                    var size = Convert.ToInt32(line, 16);
                    var data = await ReadUntilAsync(() => _pending.Count >= size + 2 ? size + 2 : -1, timeout.Token);
                    if (size == 0)
                    {
                        return text + chunks;
                    }

                    chunks.Append(Encoding.UTF8.GetString(data, 0, size));
                }
            }

            var body = await ReadUntilAsync(() => _pending.Count >= length ? length : -1, timeout.Token);
            return text + Encoding.UTF8.GetString(body);
        }

        public async Task<bool> ClosedByServerAsync(TimeSpan within)
        {
            using var timeout = new CancellationTokenSource(within);
            try
            {
                return await _stream.ReadAsync(new byte[1], timeout.Token) == 0;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        public void Dispose() => client.Dispose();

        private static string? HeaderValue(string head, string name) =>
            head.Split("\r\n").FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)) is { } line ? line[(name.Length + 1)..].Trim() : null;

        private int IndexOf(string text)
        {
            var bytes = Encoding.ASCII.GetBytes(text);
            for (var i = 0; i + bytes.Length <= _pending.Count; i++)
            {
                if (_pending.Skip(i).Take(bytes.Length).SequenceEqual(bytes))
                {
                    return i;
                }
            }

            return -1;
        }

        private async Task<byte[]> ReadUntilAsync(Func<int> complete, CancellationToken cancellationToken)
        {
            var buffer = new byte[65536];
            while (complete() is var count && count < 0)
            {
                var read = await _stream.ReadAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    throw new IOException($"the connection closed; so far: {Encoding.ASCII.GetString([.. _pending])}");
                }

                _pending.AddRange(buffer.AsSpan(0, read));
            }

            var taken = _pending.Take(complete()).ToArray();
            _pending.RemoveRange(0, taken.Length);
            return taken;
        }
    }
}
