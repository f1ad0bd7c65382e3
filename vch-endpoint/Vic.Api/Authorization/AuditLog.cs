using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vic.Api.Authorization;

/// <summary>One line of the audit log: who did what to what, and how it ended.</summary>
public sealed record AuditEntry(
    [property: JsonPropertyName("time")] DateTimeOffset Time,
    [property: JsonPropertyName("user")] string User,
    [property: JsonPropertyName("remote")] string Remote,
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("route")] string Route,
    [property: JsonPropertyName("target")] string? Target,
    [property: JsonPropertyName("right")] string Right,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("outcome")] string Outcome,
    [property: JsonPropertyName("message")] string? Message = null);

/// <summary>
/// The VCH's audit log: a JSON line for every call that changes something (allowed, refused or
/// failed) and every refused read, appended to <c>DATA/audit.log</c> and handed to the OS before the
/// call's answer is complete. Rotated at <see cref="MaxBytes"/> into <c>audit.log.1</c>.. like
/// json-file logs, keeping <see cref="KeptFiles"/>: an audit trail must not fill the disk either.
/// </summary>
public sealed class AuditLog : IDisposable
{
    public const long MaxBytes = 10L << 20;
    public const int KeptFiles = 5;

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private readonly Lock _lock = new();
    private readonly long _maxBytes;
    private FileStream? _file;

    public AuditLog(string path, long maxBytes = MaxBytes)
    {
        Path = path;
        _maxBytes = maxBytes;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
    }

    public string Path { get; }

    public void Write(AuditEntry entry)
    {
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(entry, Json) + "\n");
        lock (_lock)
        {
            try
            {
                _file ??= Open();
                if (_file.Length > 0 && _file.Length + line.Length > _maxBytes)
                {
                    Rotate();
                }

                _file.Write(line);
                _file.Flush();
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or UnauthorizedAccessException)
            {
                // A full disk must not take the API down with it, nor fail a call that was done:
                // the line is lost, the file let go, and the next write opens it anew.
                var broken = _file;
                _file = null;
                try
                {
                    broken?.Dispose();
                }
                catch (IOException)
                {
                    // Unbuffered: there is nothing left to lose.
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _file?.Dispose();
            _file = null;
        }
    }

    private FileStream Open()
    {
        // Unbuffered: a failed write leaves nothing to flush again. It may have left part of a line
        // (a disk that filled mid-write): a newline ends that one, so the next line stays whole.
        var file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
        File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (file.Length > 0 && LastByte() != '\n')
        {
            file.Write("\n"u8);
        }

        return file;
    }

    private int LastByte()
    {
        using var reader = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        reader.Seek(-1, SeekOrigin.End);
        return reader.ReadByte();
    }

    private void Rotate()
    {
        _file!.Dispose();
        for (var i = KeptFiles - 1; i >= 1; i--)
        {
            if (File.Exists($"{Path}.{i}"))
            {
                File.Move($"{Path}.{i}", $"{Path}.{i + 1}", overwrite: true);
            }
        }

        File.Move(Path, $"{Path}.1", overwrite: true);
        _file = Open();
    }
}
