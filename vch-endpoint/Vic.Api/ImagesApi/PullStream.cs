using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Vic.Api.Errors;
using Vic.Api.Models;
using Vic.ImageStore.Pull;

namespace Vic.Api.ImagesApi;

/// <summary>
/// Writes a pull's progress as dockerd does: chunked JSON objects, one per line, flushed as they
/// come. Nothing is sent until the first progress line, so a pull that fails at once (unknown image,
/// refused credentials) is an ordinary HTTP error; a failure after that is an <c>errorDetail</c>
/// object in the stream, because the status line is already gone.
/// </summary>
public static class PullStream
{
    public static async Task RunAsync(HttpContext context, Func<IProgress<PullProgress>, Task> pull)
    {
        var lines = Channel.CreateUnbounded<PullProgress>(new UnboundedChannelOptions { SingleReader = true });
        var work = Task.Run(async () =>
        {
            try
            {
                await pull(new ChannelProgress(lines.Writer)).ConfigureAwait(false);
            }
            finally
            {
                lines.Writer.Complete();
            }
        });

        var started = false;
        await foreach (var line in lines.Reader.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
        {
            if (!started)
            {
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = DockerError.JsonContentType;
                started = true;
            }

            await WriteAsync(context, ToMessage(line)).ConfigureAwait(false);
        }

        try
        {
            await work.ConfigureAwait(false);
        }
        catch (Exception ex) when (started && ex is not OperationCanceledException)
        {
            await WriteAsync(context, new ProgressMessage { Error = ex.Message, ErrorDetail = new ErrorDetail(ex.Message) }).ConfigureAwait(false);
        }
    }

    public static ProgressMessage ToMessage(PullProgress progress) => new()
    {
        Status = progress.Status,
        Id = progress.Id,
        ProgressDetail = progress.Current is { } current ? new ProgressDetail(current, progress.Total ?? 0) : progress.Id is null ? null : new ProgressDetail(null, null),
        Progress = progress.Current is { } c && progress.Total is { } t and > 0 ? Bar(c, t) : null,
    };

    private static async Task WriteAsync(HttpContext context, ProgressMessage message)
    {
        await context.Response.WriteAsync(JsonSerializer.Serialize(message, DockerJson.Options) + "\r\n", context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static string Bar(long current, long total)
    {
        const int Width = 50;
        var filled = (int)Math.Clamp(current * Width / total, 0, Width);
        var arrow = filled < Width ? ">" : "";
        return $"[{new string('=', Math.Max(0, filled - arrow.Length))}{arrow}{new string(' ', Width - filled)}] {Human(current)}/{Human(total)}";
    }

    private static string Human(long bytes) => bytes switch
    {
        >= 1_000_000_000 => (bytes / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "GB",
        >= 1_000_000 => (bytes / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "MB",
        >= 1_000 => (bytes / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "kB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + "B",
    };

    private sealed class ChannelProgress(ChannelWriter<PullProgress> writer) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => writer.TryWrite(value);
    }
}

/// <summary>One object of a progress stream (pull, push, load, build).</summary>
public sealed record ProgressMessage
{
    /// <summary>Text the client prints as it is (a build's lines).</summary>
    [JsonPropertyName("stream")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Stream { get; init; }

    /// <summary>A build's result, <c>{"ID": ...}</c>.</summary>
    [JsonPropertyName("aux")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AuxId? Aux { get; init; }

    [JsonPropertyName("status")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Status { get; init; }

    [JsonPropertyName("progressDetail")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ProgressDetail? ProgressDetail { get; init; }

    [JsonPropertyName("progress")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Progress { get; init; }

    [JsonPropertyName("id")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Id { get; init; }

    [JsonPropertyName("errorDetail")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ErrorDetail? ErrorDetail { get; init; }

    [JsonPropertyName("error")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; init; }
}

public sealed record ProgressDetail(
    [property: JsonPropertyName("current"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Current,
    [property: JsonPropertyName("total"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Total);

/// <summary>An error in a stream; <see cref="Code"/> is a failed build step's exit code (absent elsewhere).</summary>
public sealed record ErrorDetail([property: JsonPropertyName("message")] string Message)
{
    [JsonPropertyName("code")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Code { get; init; }
}

public sealed record AuxId([property: JsonPropertyName("ID")] string Id);
