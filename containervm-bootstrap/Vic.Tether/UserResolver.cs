using System.Globalization;

namespace Vic.Tether;

/// <summary>Resolves Docker's <c>--user name|uid[:group|gid]</c> against the container's own /etc/passwd and /etc/group.</summary>
internal static class UserResolver
{
    public static UserIdentity Resolve(string spec, string root)
    {
        if (string.IsNullOrEmpty(spec))
        {
            spec = "0";
        }

        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var userPart = colon < 0 ? spec : spec[..colon];
        var groupPart = colon < 0 ? null : spec[(colon + 1)..];
        var passwd = ReadTable(Path.Combine(root, "etc/passwd"));
        var groups = ReadTable(Path.Combine(root, "etc/group"));

        string[]? entry = int.TryParse(userPart, NumberStyles.None, CultureInfo.InvariantCulture, out var numericUid)
            ? passwd.FirstOrDefault(p => p.Length > 2 && p[2] == userPart)
            : passwd.FirstOrDefault(p => p[0] == userPart) ?? throw new InvalidOperationException($"unable to find user {userPart}: no matching entries in passwd file");
        var uid = entry is null ? numericUid : int.Parse(entry[2], CultureInfo.InvariantCulture);
        var gid = entry is { Length: > 3 } ? int.Parse(entry[3], CultureInfo.InvariantCulture) : uid == 0 ? 0 : uid;
        var home = entry is { Length: > 5 } ? entry[5] : "/";
        var name = entry?[0];

        if (groupPart is { Length: > 0 })
        {
            gid = int.TryParse(groupPart, NumberStyles.None, CultureInfo.InvariantCulture, out var numericGid)
                ? numericGid
                : int.Parse((groups.FirstOrDefault(g => g[0] == groupPart) ?? throw new InvalidOperationException($"unable to find group {groupPart}: no matching entries in group file"))[2], CultureInfo.InvariantCulture);
        }

        var supplementary = name is null
            ? []
            : groups.Where(g => g.Length > 3 && g[3].Split(',').Contains(name))
                .Select(g => int.Parse(g[2], CultureInfo.InvariantCulture)).Where(g => g != gid).Distinct().ToList();
        return new UserIdentity(uid, gid, supplementary, home);
    }

    /// <summary>The user with <c>--group-add</c>'s groups (names from the container's /etc/group, or numbers) added.</summary>
    public static UserIdentity WithGroups(UserIdentity user, IReadOnlyList<string> extra, string root)
    {
        if (extra.Count == 0)
        {
            return user;
        }

        var groups = ReadTable(Path.Combine(root, "etc/group"));
        var added = extra.Select(g => int.TryParse(g, NumberStyles.None, CultureInfo.InvariantCulture, out var gid)
            ? gid
            : int.Parse((groups.FirstOrDefault(e => e[0] == g) ?? throw new InvalidOperationException($"Unable to find group {g}: no matching entries in group file"))[2], CultureInfo.InvariantCulture));
        return user with { Groups = [.. user.Groups.Concat(added).Distinct()] };
    }

    private static List<string[]> ReadTable(string path) =>
        File.Exists(path)
            ? [.. File.ReadLines(path).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.Split(':')).Where(f => f.Length >= 3)]
            : [];
}
