using System.Text.RegularExpressions;
using Vic.Registry;

namespace Vic.Api.Authorization;

/// <summary>
/// What one user may do: the rights, and the scopes that narrow them. An empty scope does not narrow.
/// </summary>
/// <param name="Images">
/// Repositories (familiar names, <c>*</c> matching anything, <c>/</c> included) the user may run,
/// pull, push, tag, build into and remove; <c>busybox</c> is <c>docker.io/library/busybox</c>.
/// </param>
/// <param name="Labels">Labels a container must carry for the user to act on it or create it.</param>
public sealed record UserGrant(IReadOnlySet<AccessRight> Rights, IReadOnlyList<string> Images, IReadOnlyDictionary<string, string> Labels)
{
    public static UserGrant Nothing { get; } = new(new HashSet<AccessRight>(), [], new Dictionary<string, string>());

    // Made at the first check, not at every one (a benign race may make them twice).
    private Regex[]? _images;

    public bool ImageAllowed(string reference)
    {
        if (Images.Count == 0)
        {
            return true;
        }

        var name = RepositoryOf(reference);
        _images ??= [.. Images.Select(pattern => Glob(RepositoryOf(pattern) ?? pattern))];
        return name is not null && _images.Any(glob => glob.IsMatch(name));
    }

    public bool LabelsAllowed(IReadOnlyDictionary<string, string>? labels) =>
        Labels.All(l => labels is not null && labels.TryGetValue(l.Key, out var value) && value == l.Value);

    /// <summary>The repository of a reference, as docker names it (<c>busybox</c>, <c>127.0.0.1:5000/web/app</c>); null for something that is not a reference.</summary>
    public static string? RepositoryOf(string reference)
    {
        var text = reference.Replace("*", "x-wildcard-x", StringComparison.Ordinal);
        return ImageReference.TryParse(text, out var parsed, out _)
            ? parsed.FamiliarName.Replace("x-wildcard-x", "*", StringComparison.Ordinal)
            : null;
    }

    private static Regex Glob(string pattern) =>
        new($"^{Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal)}$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
}

/// <summary>
/// The VCH's authorization policy (<c>--authz-policy</c>): a grant per user, and one for users it does
/// not name. A user is the common name of the client certificate (with <c>--tlsverify</c>),
/// <see cref="SocketUser"/> on the unix socket, <see cref="AnonymousUser"/> on TCP without a certificate.
/// </summary>
public sealed record AuthorizationPolicy(IReadOnlyDictionary<string, UserGrant> Users, UserGrant Default, string Source)
{
    public const string SocketUser = "local";
    public const string AnonymousUser = "anonymous";

    /// <summary>The name of the check in refusals, as dockerd names an authorization plugin.</summary>
    public const string PluginName = "vch-authz";

    public UserGrant GrantOf(string user) => Users.GetValueOrDefault(user) ?? Default;
}
