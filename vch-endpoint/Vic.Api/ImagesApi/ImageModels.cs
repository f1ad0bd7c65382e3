namespace Vic.Api.ImagesApi;

/// <summary>One entry of <c>GET /images/json</c> (swagger: ImageSummary).</summary>
public sealed record ImageSummary(
    string Id,
    string ParentId,
    IReadOnlyList<string> RepoTags,
    IReadOnlyList<string> RepoDigests,
    long Created,
    long Size,
    long SharedSize,
    long VirtualSize,
    IReadOnlyDictionary<string, string> Labels,
    int Containers);

/// <summary>One row of <c>GET /images/{name}/history</c>.</summary>
public sealed record HistoryResponseItem(string Id, long Created, string CreatedBy, IReadOnlyList<string>? Tags, long Size, string Comment);

/// <summary>One line of <c>DELETE /images/{name}</c>.</summary>
public sealed record ImageDeleteResponseItem
{
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Untagged { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Deleted { get; init; }
}

public sealed record ImagePruneResponse(IReadOnlyList<ImageDeleteResponseItem> ImagesDeleted, long SpaceReclaimed);

public sealed record AuthResponse(string Status, string IdentityToken);

/// <summary>One line of a build or load stream: text for the terminal.</summary>
public sealed record StreamMessage([property: System.Text.Json.Serialization.JsonPropertyName("stream")] string Stream);

/// <summary><c>GET /system/df</c> (swagger: SystemDataUsageResponse); a kind not asked for (<c>?type=</c>) is null.</summary>
public sealed record DiskUsageResponse(long LayersSize, IReadOnlyList<ImageSummary>? Images, IReadOnlyList<object>? Containers, IReadOnlyList<object>? Volumes, IReadOnlyList<object>? BuildCache);
