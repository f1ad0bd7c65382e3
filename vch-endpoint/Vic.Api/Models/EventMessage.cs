using System.Text.Json.Serialization;

namespace Vic.Api.Models;

/// <summary>One line of the <c>/events</c> stream (swagger: EventMessage).</summary>
public sealed record EventMessage
{
    // status/id/from are the pre-1.22 fields; the docker CLI still prints them and dockerd still sends them.
    [JsonPropertyName("status")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Status { get; init; }

    [JsonPropertyName("id")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Id { get; init; }

    [JsonPropertyName("from")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? From { get; init; }

    public required string Type { get; init; }

    public required string Action { get; init; }

    public required EventActor Actor { get; init; }

    [JsonPropertyName("scope")]
    public required string Scope { get; init; }

    [JsonPropertyName("time")]
    public required long Time { get; init; }

    [JsonPropertyName("timeNano")]
    public required long TimeNano { get; init; }
}

public sealed record EventActor(string ID, IReadOnlyDictionary<string, string> Attributes);
