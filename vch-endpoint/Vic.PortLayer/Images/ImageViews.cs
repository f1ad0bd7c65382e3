using Vic.ImageStore.Images;

namespace Vic.PortLayer.Images;

/// <summary>One line of <c>docker rmi</c>'s answer: a name that was removed, or an image or layer deleted.</summary>
public sealed record ImageDeletion(string? Untagged, string? Deleted);

/// <summary>One row of <c>docker history</c>, newest first.</summary>
public sealed record ImageHistoryItem(string Id, DateTimeOffset Created, string CreatedBy, IReadOnlyList<string> Tags, long Size, string Comment);

/// <summary>An image with its verbatim config, for <c>docker image inspect</c>.</summary>
public sealed record ImageDetails(ImageRecord Record, byte[] Config, IReadOnlyList<string> Layers);

/// <summary>What <c>docker image prune</c> removed.</summary>
public sealed record ImagePruneReport(IReadOnlyList<ImageDeletion> Deleted, long SpaceReclaimed);
