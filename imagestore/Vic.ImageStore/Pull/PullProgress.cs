namespace Vic.ImageStore.Pull;

/// <summary>
/// One line of <c>docker pull</c>'s progress: a <see cref="Status"/> for a layer (<see cref="Id"/> is
/// its short digest) or for the whole pull (no id), with byte counts while downloading.
/// </summary>
public sealed record PullProgress(string? Id, string Status, long? Current = null, long? Total = null);
