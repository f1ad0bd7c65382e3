namespace Vic.PortLayer.Volumes;

/// <summary>
/// A volume: an ext4 filesystem in a VMDK of its own, in the VCH's volume store, attached to the
/// ContainerVMs that mount it. Anonymous volumes have random names and go with their container on
/// <c>rm -v</c>.
/// </summary>
public sealed record VolumeRecord
{
    public required string Name { get; init; }

    /// <summary>What the user asked for ("local" by default); every driver name is served by the volume store.</summary>
    public string Driver { get; init; } = "local";

    public required DateTimeOffset CreatedAt { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();

    public long CapacityBytes { get; init; }

    public bool Anonymous { get; init; }

    /// <summary>The label of the volume store it lives in.</summary>
    public string Store { get; init; } = VolumeStoreConfig.DefaultLabel;
}

/// <summary>A volume mounted into a container: which one, where, and whether read-only.</summary>
public sealed record VolumeMount(string Name, string Target, bool ReadOnly = false)
{
    /// <summary><c>--mount volume-label=...</c>: labels a volume made for this mount gets.</summary>
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    public bool Equals(VolumeMount? other) =>
        other is not null && (Name, Target, ReadOnly) == (other.Name, other.Target, other.ReadOnly)
        && (Labels ?? new Dictionary<string, string>()).OrderBy(l => l.Key, StringComparer.Ordinal).SequenceEqual((other.Labels ?? new Dictionary<string, string>()).OrderBy(l => l.Key, StringComparer.Ordinal));

    public override int GetHashCode() => HashCode.Combine(Name, Target, ReadOnly);
}
