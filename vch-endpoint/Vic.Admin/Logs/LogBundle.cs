using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Vic.Admin.Status;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;

namespace Vic.Admin.Logs;

/// <summary>
/// The log bundle an admin downloads to hand to support (VIC's <c>logs.zip</c>): the endpoint's recent
/// log, the VCH's settings (secrets were never in them), the ContainerVM table, and per container its
/// output and its ContainerVM's console. Each container's files are cut to their newest part, so one
/// chatty container cannot make the bundle unusable.
/// </summary>
public sealed class LogBundle(EndpointLogBuffer endpointLog, ContainerVmTable table, ContainerService runtime, IConsoleLogSource? consoles, TimeProvider time)
{
    public const int MaxOutputBytes = 8 << 20;
    public const int MaxConsoleBytes = 1 << 20;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>The file name offered to the browser: the VCH's name and the time.</summary>
    public string FileName(string vchName) =>
        $"{string.Concat(vchName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'))}-logs-{time.GetUtcNow():yyyyMMdd-HHmmss}.zip";

    /// <summary>Writes the bundle as a zip into <paramref name="destination"/> (which must be seekable or a fresh stream).</summary>
    public async Task WriteAsync(Stream destination, object about, IReadOnlyList<KeyValuePair<string, string>> settings, CancellationToken cancellationToken)
    {
        var rows = await table.ListAsync(cancellationToken).ConfigureAwait(false);
        using var zip = new ZipArchive(destination, ZipArchiveMode.Create, leaveOpen: true);
        await AddAsync(zip, "README.txt", Encoding.UTF8.GetBytes(
            $"VCH log bundle, made {time.GetUtcNow():u}.\n" +
            "endpoint.log        the endpoint's most recent log lines\n" +
            "vch.json            the VCH's identity and settings (no passwords, keys or tokens)\n" +
            "containers.json     the ContainerVMs: state, image, addresses, resources, VM names\n" +
            "containers/NAME-ID/ output.log (the container's stdout and stderr, newest 8 MiB) and\n" +
            "                    console.log (its ContainerVM's console: kernel and vic-init, newest 1 MiB)\n"), cancellationToken).ConfigureAwait(false);
        await AddAsync(zip, "vch.json", JsonSerializer.SerializeToUtf8Bytes(new { about, settings = settings.ToDictionary(p => p.Key, p => p.Value) }, Json), cancellationToken).ConfigureAwait(false);
        await AddAsync(zip, "endpoint.log", Encoding.UTF8.GetBytes(string.Concat(endpointLog.Snapshot().Select(Format))), cancellationToken).ConfigureAwait(false);
        await AddAsync(zip, "containers.json", JsonSerializer.SerializeToUtf8Bytes(rows, Json), cancellationToken).ConfigureAwait(false);
        foreach (var row in rows)
        {
            var folder = $"containers/{row.Name}-{row.Id[..12]}";
            await AddAsync(zip, $"{folder}/output.log", OutputOf(row.Id), cancellationToken).ConfigureAwait(false);
            var console = consoles is null ? null : await consoles.ReadConsoleAsync(row.Id, MaxConsoleBytes, cancellationToken).ConfigureAwait(false);
            await AddAsync(zip, $"{folder}/console.log", console switch
            {
                null => Encoding.UTF8.GetBytes("(this backend keeps no console for this ContainerVM)\n"),
                { Length: 0 } => Encoding.UTF8.GetBytes("(the ContainerVM wrote nothing to its console: its kernel runs quiet, and vic-init writes there only when something fails)\n"),
                _ => console,
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One endpoint log line as the console logger writes it.</summary>
    public static string Format(EndpointLogLine line) =>
        $"{line.Time:yyyy-MM-ddTHH:mm:ss.fffZ} {line.Level}: {line.Category}[{line.EventId}] {line.Message}\n";

    private byte[] OutputOf(string id)
    {
        IReadOnlyList<OutputChunk> chunks;
        try
        {
            chunks = runtime.Logs(id, follow: false).History;
        }
        catch (PortLayerException ex)
        {
            return Encoding.UTF8.GetBytes($"(no output kept: {ex.Message})\n");
        }

        var text = new StringBuilder();
        var kept = 0L;
        var newest = new List<OutputChunk>();
        for (var i = chunks.Count - 1; i >= 0 && kept < MaxOutputBytes; i--)
        {
            newest.Add(chunks[i]);
            kept += chunks[i].Data.Length;
        }

        newest.Reverse();
        foreach (var chunk in newest)
        {
            var prefix = $"{chunk.Time.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture)} {chunk.Stream.ToString().ToLowerInvariant()}: ";
            foreach (var line in Encoding.UTF8.GetString(chunk.Data).TrimEnd('\n').Split('\n'))
            {
                text.Append(prefix).Append(line.TrimEnd('\r')).Append('\n');
            }
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static async Task AddAsync(ZipArchive zip, string name, byte[] content, CancellationToken cancellationToken)
    {
        var entry = zip.CreateEntry(name, CompressionLevel.Fastest);
        entry.LastWriteTime = DateTimeOffset.UtcNow;
        await using var stream = entry.Open();
        await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
    }
}
