using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Vic.Api.Versioning;

/// <summary>A Docker Engine API version such as 1.47; ordered numerically (1.9 &lt; 1.10).</summary>
public readonly record struct ApiVersion(int Major, int Minor) : IComparable<ApiVersion>
{
    /// <summary>The oldest version served: what docker CLI 17.x and docker-py 4+ can fall back to.</summary>
    public static readonly ApiVersion Minimum = new(1, 24);

    /// <summary>The newest version served, advertised in <c>Api-Version</c>; clients negotiate down to it.</summary>
    public static readonly ApiVersion Maximum = new(1, 47);

    public static bool TryParse(string text, [NotNullWhen(true)] out ApiVersion? version)
    {
        version = null;
        var parts = text.Split('.');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
        {
            return false;
        }

        version = new ApiVersion(major, minor);
        return true;
    }

    public int CompareTo(ApiVersion other) =>
        Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);

    public static bool operator <(ApiVersion left, ApiVersion right) => left.CompareTo(right) < 0;

    public static bool operator >(ApiVersion left, ApiVersion right) => left.CompareTo(right) > 0;

    public static bool operator <=(ApiVersion left, ApiVersion right) => left.CompareTo(right) <= 0;

    public static bool operator >=(ApiVersion left, ApiVersion right) => left.CompareTo(right) >= 0;

    public override string ToString() => $"{Major}.{Minor}";
}
