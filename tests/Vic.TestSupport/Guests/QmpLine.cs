using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Vic.TestSupport;

/// <summary>A QMP connection to a simulated guest's QEMU, one command at a time; events are skipped.</summary>
internal sealed class QmpLine : IDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly NetworkStream _stream;

    private QmpLine(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public static async Task<QmpLine> ConnectAsync(string path, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path)).ConfigureAwait(false);
                var line = new QmpLine(socket);
                await line._reader.ReadLineAsync().ConfigureAwait(false); // the greeting
                await line.ExecuteAsync("qmp_capabilities").ConfigureAwait(false);
                return line;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(20).ConfigureAwait(false);
            }
        }
    }

    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null)
    {
        var request = new JsonObject { ["execute"] = command };
        if (arguments is not null)
        {
            request["arguments"] = arguments;
        }

        await _stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n")).ConfigureAwait(false);
        while (await _reader.ReadLineAsync().ConfigureAwait(false) is { } text)
        {
            var answer = JsonNode.Parse(text)!.AsObject();
            if (answer.ContainsKey("error"))
            {
                throw new InvalidOperationException($"QMP {command}: {answer["error"]!["desc"]}");
            }

            if (answer.ContainsKey("return"))
            {
                return answer["return"];
            }
        }

        throw new IOException($"QEMU closed its QMP socket during {command}");
    }

    /// <summary>Asks <paramref name="query"/> until <paramref name="done"/> holds of the status it reports.</summary>
    public async Task<string> WaitForAsync(string query, Func<string, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = (await ExecuteAsync(query).ConfigureAwait(false))?["status"]?.GetValue<string>() ?? "";
            if (done(status) || DateTime.UtcNow > deadline)
            {
                return status;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
        _socket.Dispose();
    }
}
