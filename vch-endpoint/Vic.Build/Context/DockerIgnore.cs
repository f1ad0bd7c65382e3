using System.Text;
using System.Text.RegularExpressions;

namespace Vic.Build.Context;

/// <summary>
/// <c>.dockerignore</c> with moby's pattern rules: Go's filepath.Match per path component, <c>**</c>
/// for any number of folders, a pattern that matches a folder matches everything in it, <c>!</c>
/// lines make exceptions, and the last pattern that matches decides.
/// </summary>
public sealed class DockerIgnore
{
    private readonly List<(Regex Pattern, bool Exception)> _patterns = [];

    public DockerIgnore(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            var pattern = line.Trim();
            if (pattern.Length == 0 || pattern.StartsWith('#'))
            {
                continue;
            }

            var exception = pattern.StartsWith('!');
            if (exception)
            {
                pattern = pattern[1..].Trim();
            }

            pattern = Clean(pattern);
            if (pattern.Length == 0 || pattern == ".")
            {
                continue;
            }

            _patterns.Add((Compile(pattern), exception));
        }
    }

    public static DockerIgnore None { get; } = new([]);

    public bool HasExceptions => _patterns.Any(p => p.Exception);

    public static DockerIgnore Read(string contextRoot)
    {
        var file = Path.Combine(contextRoot, ".dockerignore");
        return File.Exists(file) ? new DockerIgnore(File.ReadAllLines(file)) : None;
    }

    /// <summary>Whether <paramref name="path"/> (relative to the context, <c>/</c>-separated) is left out.</summary>
    public bool Excludes(string path)
    {
        path = Clean(path);
        var parents = path.Split('/');
        var excluded = false;
        foreach (var (pattern, exception) in _patterns)
        {
            if (exception != excluded)
            {
                continue;
            }

            var match = pattern.IsMatch(path);
            for (var i = 1; !match && i < parents.Length; i++)
            {
                match = pattern.IsMatch(string.Join('/', parents[..i]));
            }

            if (match)
            {
                excluded = !exception;
            }
        }

        return excluded;
    }

    /// <summary>Go's path.Clean, without a leading slash: the context is the root.</summary>
    public static string Clean(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }

                continue;
            }

            parts.Add(part);
        }

        return parts.Count == 0 ? "." : string.Join('/', parts);
    }

    /// <summary>moby's translation of a pattern to a regular expression.</summary>
    public static Regex Compile(string pattern)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*')
            {
                if (i + 1 < pattern.Length && pattern[i + 1] == '*')
                {
                    i++;
                    if (i + 1 < pattern.Length && pattern[i + 1] == '/')
                    {
                        i++;
                    }

                    regex.Append(i + 1 >= pattern.Length ? ".*" : "(.*/)?");
                }
                else
                {
                    regex.Append("[^/]*");
                }
            }
            else if (c == '?')
            {
                regex.Append("[^/]");
            }
            else if (c == '[')
            {
                var end = pattern.IndexOf(']', i + 1);
                if (end < 0)
                {
                    regex.Append(@"\[");
                    continue;
                }

                var set = pattern[(i + 1)..end];
                regex.Append('[').Append(set.StartsWith('^') || set.StartsWith('!') ? "^" + Regex.Escape(set[1..]).Replace(@"\-", "-", StringComparison.Ordinal) : Regex.Escape(set).Replace(@"\-", "-", StringComparison.Ordinal)).Append(']');
                i = end;
            }
            else if (c == '\\' && i + 1 < pattern.Length)
            {
                regex.Append(Regex.Escape(pattern[++i].ToString()));
            }
            else
            {
                regex.Append(Regex.Escape(c.ToString()));
            }
        }

        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
