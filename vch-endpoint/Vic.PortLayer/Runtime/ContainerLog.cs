using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Vic.PortLayer.Runtime;

/// <summary>Which stream a piece of output came from.</summary>
public enum OutputStream
{
    Stdout = 1,
    Stderr = 2,
}

/// <summary>A piece of a container's output with the time the endpoint received it.</summary>
public sealed record OutputChunk(OutputStream Stream, byte[] Data, DateTimeOffset Time);

/// <summary>
/// A container's output: appended to its log file (one JSON object per chunk, like dockerd's
/// json-file driver, so logs survive endpoint restarts; rotated at the settings' size into
/// <c>container.log.1</c>.. as json-file's <c>max-size</c>/<c>max-file</c> do; not kept at all with
/// the <c>none</c> driver), sent to a syslog server with the <c>syslog</c> driver, and handed to live
/// readers (attach, <c>logs -f</c>). A reader that
/// subscribes sees every chunk written after it subscribed.
/// </summary>
public sealed class ContainerLog : IDisposable
{
    private readonly string _path;
    private readonly Containers.LogSettings _settings;
    private readonly Lock _gate = new();
    private readonly List<Channel<OutputChunk>> _readers = [];
    private readonly SyslogForwarder? _syslog;
    private FileStream? _file;
    private bool _closed;

    /// <param name="syslog">The syslog driver's sender, which gets each chunk too.</param>
    public ContainerLog(string path, Containers.LogSettings? settings = null, SyslogForwarder? syslog = null)
    {
        _path = path;
        _settings = settings ?? Containers.LogSettings.Default;
        _syslog = syslog;
    }

    public void Append(OutputStream stream, ReadOnlySpan<byte> data, DateTimeOffset time)
    {
        var chunk = new OutputChunk(stream, data.ToArray(), time);
        lock (_gate)
        {
            if (_settings.Readable)
            {
                WriteLines(chunk, stream, time);
            }

            _syslog?.Send(stream, data, time);

            foreach (var reader in _readers)
            {
                reader.Writer.TryWrite(chunk);
            }
        }
    }

    /// <summary>Output the log file could not keep (its disk full): attached clients still got it.</summary>
    public long LostBytes { get; private set; }

    /// <summary>
    /// Appends the chunk to the file. A file that cannot be written (a full disk) loses the chunk, as
    /// dockerd's json-file driver does, and is reopened for the next one: the container runs on, and
    /// live readers get every chunk either way.
    /// </summary>
    private void WriteLines(OutputChunk chunk, OutputStream stream, DateTimeOffset time)
    {
        try
        {
            _file ??= OpenForAppend();

            // One entry per line of output, as json-file keeps it: rotation then cuts between lines.
            var rest = chunk.Data.AsSpan();
            while (rest.Length > 0)
            {
                var end = rest.IndexOf((byte)'\n');
                var piece = end < 0 ? rest : rest[..(end + 1)];
                rest = rest[piece.Length..];
                var line = JsonSerializer.SerializeToUtf8Bytes(new LogLine(Encoding.UTF8.GetString(piece), stream == OutputStream.Stdout ? "stdout" : "stderr", time));
                if (_settings.MaxSizeBytes > 0 && _file.Length > 0 && _file.Length + line.Length + 1 > _settings.MaxSizeBytes)
                {
                    Rotate();
                }

                _file.Write(line);
                _file.WriteByte((byte)'\n');
            }

            _file.Flush();
        }
        catch (IOException)
        {
            LostBytes += chunk.Data.Length;
            try
            {
                _file?.Dispose();
            }
            catch (IOException)
            {
                // Its buffer could not be written either: gone with the chunk.
            }

            _file = null;
        }
    }

    /// <summary>The full file becomes <c>.1</c> (older ones move up, the oldest past max-file goes) and a new one starts.</summary>
    private void Rotate()
    {
        _file!.Dispose();
        if (_settings.MaxFiles > 1)
        {
            File.Delete(Rotated(_settings.MaxFiles - 1));
            for (var i = _settings.MaxFiles - 2; i >= 1; i--)
            {
                if (File.Exists(Rotated(i)))
                {
                    File.Move(Rotated(i), Rotated(i + 1));
                }
            }

            File.Move(_path, Rotated(1));
        }
        else
        {
            File.Delete(_path);
        }

        _file = OpenForAppend();
    }

    private string Rotated(int generation) => $"{_path}.{generation}";

    /// <summary>Opens the file at its end; a line torn by a crash is ended first so the next one stays whole.</summary>
    private FileStream OpenForAppend()
    {
        var file = new FileStream(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        if (file.Length > 0)
        {
            file.Seek(-1, SeekOrigin.End);
            if (file.ReadByte() != '\n')
            {
                file.WriteByte((byte)'\n');
            }
        }

        file.Seek(0, SeekOrigin.End);
        return file;
    }

    /// <summary>Live output from now on; completes when the container's process ends.</summary>
    public ChannelReader<OutputChunk> Subscribe()
    {
        var channel = Channel.CreateUnbounded<OutputChunk>();
        lock (_gate)
        {
            if (_closed)
            {
                channel.Writer.Complete();
            }
            else
            {
                _readers.Add(channel);
            }
        }

        return channel.Reader;
    }

    /// <summary>Starts a new run: readers subscribing from now wait for its output.</summary>
    public void Open()
    {
        lock (_gate)
        {
            _closed = false;
        }
    }

    /// <summary>The process ended: every live reader reaches its end.</summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
            _syslog?.Flush(DateTimeOffset.UtcNow);
            foreach (var reader in _readers)
            {
                reader.Writer.TryComplete();
            }

            _readers.Clear();
            try
            {
                _file?.Flush(flushToDisk: true);
            }
            catch (IOException)
            {
                // A full disk: what it could not keep is lost, as a line that could not be written is.
            }
        }
    }

    /// <summary>Everything logged so far, oldest first.</summary>
    public IEnumerable<OutputChunk> ReadAll()
    {
        for (var generation = Math.Max(_settings.MaxFiles - 1, 0); generation >= 1; generation--)
        {
            foreach (var chunk in ReadFile(Rotated(generation)))
            {
                yield return chunk;
            }
        }

        foreach (var chunk in ReadFile(_path))
        {
            yield return chunk;
        }
    }

    private static IEnumerable<OutputChunk> ReadFile(string path)
    {
        if (!File.Exists(path))
        {
            yield break;
        }

        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(file);
        while (reader.ReadLine() is { } line)
        {
            LogLine? entry;
            try
            {
                entry = JsonSerializer.Deserialize<LogLine>(line);
            }
            catch (JsonException)
            {
                // A line torn by a crash mid-write: the rest of the log is still good.
                continue;
            }

            if (entry is not null)
            {
                yield return new OutputChunk(entry.stream == "stderr" ? OutputStream.Stderr : OutputStream.Stdout, Encoding.UTF8.GetBytes(entry.log), entry.time);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            try
            {
                _file?.Dispose();
            }
            catch (IOException)
            {
                // A full disk: its last buffer is lost.
            }

            _file = null;
            _syslog?.Flush(DateTimeOffset.UtcNow);
        }

        // What is queued for the syslog server goes out in the background (2 s at most); the
        // forwarder's own failures are logged by it and never thrown.
        _ = _syslog?.DisposeAsync().AsTask();
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Style", "IDE1006", Justification = "dockerd's json-file field names")]
    private sealed record LogLine(string log, string stream, DateTimeOffset time);
}
