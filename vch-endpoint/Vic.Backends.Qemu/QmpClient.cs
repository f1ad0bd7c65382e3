using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Vic.Backends.Qemu;

/// <summary>
/// A QEMU Machine Protocol client over the VM's QMP unix socket: negotiates capabilities, then
/// runs one command at a time and returns its <c>return</c> value; events are skipped.
/// </summary>
internal sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public static async Task<QmpClient> ConnectAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
                var client = new QmpClient(socket);
                await client.ReadMessageAsync(cancellationToken).ConfigureAwait(false);
                await client.ExecuteAsync("qmp_capabilities", null, cancellationToken).ConfigureAwait(false);
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var request = new JsonObject { ["execute"] = command };
            if (arguments is not null)
            {
                request["arguments"] = arguments;
            }

            await _stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n"), cancellationToken).ConfigureAwait(false);
            while (true)
            {
                var message = await ReadMessageAsync(cancellationToken).ConfigureAwait(false);
                if (message["error"] is JsonObject error)
                {
                    throw new QemuException($"QMP {command} failed: {error["class"]}: {error["desc"]}");
                }

                if (message.ContainsKey("return"))
                {
                    return message["return"];
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
        _gate.Dispose();
    }

    private async Task<JsonObject> ReadMessageAsync(CancellationToken cancellationToken)
    {
        var line = await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) ?? throw new QemuException("QMP connection closed");
        try
        {
            return JsonNode.Parse(line) as JsonObject ?? throw new QemuException($"QMP sent {line}");
        }
        catch (JsonException ex)
        {
            throw new QemuException($"QMP sent invalid JSON: {ex.Message}");
        }
    }
}

/// <summary>QEMU refused or failed an operation; the message says what QEMU said.</summary>
public sealed class QemuException(string message) : Exception(message);
