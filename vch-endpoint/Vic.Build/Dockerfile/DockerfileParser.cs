using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Vic.Build.Dockerfile;

/// <summary>
/// Reads a Dockerfile the way moby's parser does: parser directives at the very top (<c>escape</c>;
/// <c>syntax</c> is noted and ignored: there is no frontend to fetch), comment lines dropped even
/// inside a continuation, lines joined at a trailing escape character, <c>--flags</c> split off the
/// front, the JSON exec form recognised, and here-documents after RUN, COPY and ADD collected.
/// </summary>
public static partial class DockerfileParser
{
    /// <summary>Every instruction the builder knows; anything else is refused with its line.</summary>
    public static readonly IReadOnlySet<string> Keywords = new HashSet<string>(StringComparer.Ordinal)
    {
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
        "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    };

    private static readonly IReadOnlySet<string> JsonForms = new HashSet<string>(StringComparer.Ordinal)
    {
        "RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME",
    };

    private static readonly IReadOnlySet<string> HereDocumentForms = new HashSet<string>(StringComparer.Ordinal) { "RUN", "COPY", "ADD" };

    public static DockerfileDocument Parse(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var escape = '\\';
        var notes = new List<string>();
        var index = 0;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        // Directives: only before anything else, comments and blank lines included.
        for (; index < lines.Length; index++)
        {
            var match = Directive().Match(lines[index]);
            if (!match.Success)
            {
                break;
            }

            var name = match.Groups[1].Value.ToLowerInvariant();
            var value = match.Groups[2].Value;
            if (name is not ("escape" or "syntax" or "check"))
            {
                break;
            }

            if (!seen.Add(name))
            {
                throw new DockerfileException($"dockerfile parse error on line {index + 1}: only one {name} parser directive can be used");
            }

            if (name == "escape")
            {
                escape = value switch
                {
                    "\\" => '\\',
                    "`" => '`',
                    _ => throw new DockerfileException($"dockerfile parse error on line {index + 1}: invalid escape token '{value}' does not match ` or \\"),
                };
            }
            else if (name == "syntax")
            {
                notes.Add($"# syntax={value} is ignored: this VCH builds with its own classic builder");
            }
        }

        var instructions = new List<Instruction>();
        while (index < lines.Length)
        {
            var line = lines[index];
            var trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] == '#')
            {
                index++;
                continue;
            }

            var start = index + 1;
            var logical = new StringBuilder();
            var original = new StringBuilder();
            var current = trimmed;
            while (true)
            {
                index++;
                var end = current.TrimEnd();
                if (end.Length > 0 && end[^1] == escape)
                {
                    logical.Append(end, 0, end.Length - 1);
                    original.Append(end, 0, end.Length - 1);

                    // The next line that is neither a comment nor blank continues this one.
                    while (index < lines.Length && (lines[index].Trim().Length == 0 || lines[index].TrimStart().StartsWith('#')))
                    {
                        index++;
                    }

                    if (index >= lines.Length)
                    {
                        break;
                    }

                    current = lines[index];
                    continue;
                }

                logical.Append(current);
                original.Append(current);
                break;
            }

            var instruction = Split(logical.ToString().Trim(), start) with { Original = Collapse(original.ToString()) };
            if (HereDocumentForms.Contains(instruction.Keyword) && instruction.JsonForm is null)
            {
                var documents = new List<HereDocument>();
                foreach (Match here in HereDocumentStart().Matches(instruction.Arguments))
                {
                    var strip = here.Groups[1].Value == "-";
                    var quoted = here.Groups[2].Value.Length > 0;
                    var name = here.Groups[3].Value;
                    var content = new StringBuilder();
                    var closed = false;
                    while (index < lines.Length)
                    {
                        var body = lines[index++];
                        var compare = strip ? body.TrimStart('\t') : body;
                        if (compare == name)
                        {
                            closed = true;
                            break;
                        }

                        content.Append(compare).Append('\n');
                    }

                    if (!closed)
                    {
                        throw new DockerfileException($"dockerfile parse error on line {start}: unterminated heredoc {name}");
                    }

                    documents.Add(new HereDocument(name, content.ToString(), !quoted));
                }

                instruction = instruction with { HereDocuments = documents };
            }

            instructions.Add(instruction);
        }

        return new DockerfileDocument(instructions, escape, notes);
    }

    private static Instruction Split(string line, int lineNumber)
    {
        var space = line.IndexOfAny([' ', '\t']);
        var keyword = (space < 0 ? line : line[..space]).ToUpperInvariant();
        var rest = space < 0 ? "" : line[(space + 1)..].TrimStart();
        if (!Keywords.Contains(keyword))
        {
            throw new DockerfileException($"dockerfile parse error on line {lineNumber}: unknown instruction: {keyword}");
        }

        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        if (keyword != "ONBUILD")
        {
            while (rest.StartsWith("--", StringComparison.Ordinal))
            {
                var end = rest.IndexOfAny([' ', '\t']);
                var flag = end < 0 ? rest : rest[..end];
                if (flag == "--")
                {
                    break;
                }

                var equals = flag.IndexOf('=', StringComparison.Ordinal);
                var name = equals < 0 ? flag[2..] : flag[2..equals];
                var value = equals < 0 ? "true" : Unquote(flag[(equals + 1)..]);
                if (flags.ContainsKey(name) && name != "mount")
                {
                    throw new DockerfileException($"dockerfile parse error on line {lineNumber}: Duplicate flag specified: {name}");
                }

                flags[name] = flags.TryGetValue(name, out var earlier) ? earlier + "\n" + value : value;
                rest = end < 0 ? "" : rest[(end + 1)..].TrimStart();
            }
        }

        IReadOnlyList<string>? json = null;
        if (JsonForms.Contains(keyword) && rest.StartsWith('['))
        {
            try
            {
                using var document = JsonDocument.Parse(rest);
                if (document.RootElement.ValueKind == JsonValueKind.Array && document.RootElement.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
                {
                    json = [.. document.RootElement.EnumerateArray().Select(e => e.GetString()!)];
                }
            }
            catch (JsonException)
            {
                // Not JSON after all: Docker runs it in the shell form, as written.
            }
        }

        return new Instruction(keyword, flags, rest, json, lineNumber);
    }

    private static string Unquote(string value) =>
        value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0] ? value[1..^1] : value;

    private static string Collapse(string text) => Whitespace().Replace(text.Trim(), " ");

    [GeneratedRegex(@"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")]
    private static partial Regex Directive();

    [GeneratedRegex(@"(?<![\w<$(])<<(-?)([""']?)([A-Za-z_][A-Za-z0-9_]*)\2")]
    private static partial Regex HereDocumentStart();

    [GeneratedRegex(@"[ \t]+")]
    private static partial Regex Whitespace();
}
