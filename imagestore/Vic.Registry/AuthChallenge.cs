using System.Text.RegularExpressions;

namespace Vic.Registry;

/// <summary>
/// A parsed <c>WWW-Authenticate</c> header: <c>Bearer realm="...",service="...",scope="..."</c> sends us
/// to a token server; <c>Basic realm="..."</c> asks for the credentials on every request.
/// </summary>
public sealed partial record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    public string? Realm => Parameters.GetValueOrDefault("realm");

    public static AuthChallenge? Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }

        var space = header.IndexOf(' ', StringComparison.Ordinal);
        var scheme = space < 0 ? header.Trim() : header[..space];
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (space >= 0)
        {
            foreach (Match match in Parameter().Matches(header[(space + 1)..]))
            {
                parameters[match.Groups["key"].Value] = match.Groups["quoted"].Success ? match.Groups["quoted"].Value : match.Groups["bare"].Value;
            }
        }

        return new AuthChallenge(scheme, parameters);
    }

    [GeneratedRegex("""(?<key>[A-Za-z_]+)\s*=\s*(?:"(?<quoted>[^"]*)"|(?<bare>[^,\s]*))""")]
    private static partial Regex Parameter();
}
