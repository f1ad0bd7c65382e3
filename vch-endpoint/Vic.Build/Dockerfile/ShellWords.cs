using System.Text;

namespace Vic.Build.Dockerfile;

/// <summary>
/// The shell-like word processing Docker applies to the arguments of ADD, COPY, ENV, EXPOSE, FROM,
/// LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG (moby's <c>shell.Lex</c>): single quotes are
/// literal, double quotes expand <c>$VAR</c>, the escape character takes the next character as it is,
/// and <c>${VAR:-word}</c>, <c>${VAR-word}</c>, <c>${VAR:+word}</c>, <c>${VAR+word}</c>,
/// <c>${VAR:?message}</c> and <c>${VAR?message}</c> work as in a POSIX shell.
/// </summary>
public sealed class ShellWords(char escape, Func<string, string?> lookup)
{
    /// <summary>One word: quotes removed, variables expanded, whitespace kept.</summary>
    public string Word(string text) => string.Concat(Process(text, split: false).Select(w => w.Text));

    /// <summary>Words split at unquoted whitespace, each processed as <see cref="Word"/>.</summary>
    public IReadOnlyList<string> Words(string text) => [.. Process(text, split: true).Select(w => w.Text)];

    /// <summary>
    /// ENV and LABEL pairs: <c>key=value key2="two words"</c>, or the older <c>key value</c> whose
    /// value is the rest of the line.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Pairs(string text, string instruction)
    {
        var words = Process(text, split: true);
        if (words.Count == 0)
        {
            throw new DockerfileException($"{instruction} requires at least one argument");
        }

        if (!words[0].Raw.Contains('=', StringComparison.Ordinal))
        {
            // The legacy form: one key, and the value is everything after the first whitespace.
            var trimmed = text.Trim();
            var split = trimmed.IndexOfAny([' ', '\t']);
            if (split < 0)
            {
                throw new DockerfileException($"{instruction} must have two arguments");
            }

            return [KeyValuePair.Create(Word(trimmed[..split]), Word(trimmed[(split + 1)..].TrimStart()))];
        }

        var pairs = new List<KeyValuePair<string, string>>();
        foreach (var word in words)
        {
            var equals = word.Text.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new DockerfileException($"Syntax error - can't find = in \"{word.Raw}\". Must be of the form: name=value");
            }

            pairs.Add(KeyValuePair.Create(word.Text[..equals], word.Text[(equals + 1)..]));
        }

        return pairs;
    }

    private sealed record ProcessedWord(string Text, string Raw);

    private List<ProcessedWord> Process(string text, bool split)
    {
        var words = new List<ProcessedWord>();
        var word = new StringBuilder();
        var raw = new StringBuilder();
        var inWord = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (split && char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(new ProcessedWord(word.ToString(), raw.ToString()));
                    word.Clear();
                    raw.Clear();
                    inWord = false;
                }

                i++;
                continue;
            }

            inWord = true;
            var begin = i;
            if (c == '\'')
            {
                var end = text.IndexOf('\'', i + 1);
                if (end < 0)
                {
                    throw new DockerfileException($"unexpected end of statement while looking for matching single-quote in \"{text}\"");
                }

                word.Append(text, i + 1, end - i - 1);
                i = end + 1;
            }
            else if (c == '"')
            {
                i++;
                var closed = false;
                while (i < text.Length)
                {
                    var d = text[i];
                    if (d == '"')
                    {
                        closed = true;
                        i++;
                        break;
                    }

                    if (d == escape && i + 1 < text.Length && (text[i + 1] == '"' || text[i + 1] == '$' || text[i + 1] == escape))
                    {
                        word.Append(text[i + 1]);
                        i += 2;
                    }
                    else if (d == '$')
                    {
                        i = Dollar(text, i, word);
                    }
                    else
                    {
                        word.Append(d);
                        i++;
                    }
                }

                if (!closed)
                {
                    throw new DockerfileException($"unexpected end of statement while looking for matching double-quote in \"{text}\"");
                }
            }
            else if (c == escape)
            {
                if (i + 1 < text.Length)
                {
                    word.Append(text[i + 1]);
                    i += 2;
                }
                else
                {
                    word.Append(c);
                    i++;
                }
            }
            else if (c == '$')
            {
                i = Dollar(text, i, word);
            }
            else
            {
                word.Append(c);
                i++;
            }

            raw.Append(text, begin, i - begin);
        }

        if (inWord || (!split && words.Count == 0))
        {
            words.Add(new ProcessedWord(word.ToString(), raw.ToString()));
        }

        return words;
    }

    /// <summary>Expands the variable at <paramref name="at"/> (a <c>$</c>) into <paramref name="output"/>; returns where reading goes on.</summary>
    private int Dollar(string text, int at, StringBuilder output)
    {
        var i = at + 1;
        if (i >= text.Length)
        {
            output.Append('$');
            return i;
        }

        if (text[i] != '{')
        {
            var start = i;
            // $1x is $1 then x: moby's lexer ends a name that starts with a digit at the first non-digit.
            var digits = char.IsAsciiDigit(text[i]);
            while (i < text.Length && (digits ? char.IsAsciiDigit(text[i]) : char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
            {
                i++;
            }

            if (i == start)
            {
                output.Append('$');
                return i;
            }

            output.Append(lookup(text[start..i]) ?? "");
            return i;
        }

        i++;
        var nameStart = i;
        while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
        {
            i++;
        }

        var name = text[nameStart..i];
        if (name.Length == 0)
        {
            throw new DockerfileException($"missing variable name in \"{text}\"");
        }

        if (i < text.Length && text[i] == '}')
        {
            output.Append(lookup(name) ?? "");
            return i + 1;
        }

        var colon = i < text.Length && text[i] == ':';
        if (colon)
        {
            i++;
        }

        if (i >= text.Length || text[i] is not ('-' or '+' or '?'))
        {
            throw new DockerfileException($"unsupported modifier in \"{text}\"");
        }

        var modifier = text[i++];

        // The word runs to the matching brace, and is itself processed.
        var depth = 1;
        var wordStart = i;
        while (i < text.Length)
        {
            if (text[i] == escape && i + 1 < text.Length)
            {
                i += 2;
                continue;
            }

            if (text[i] == '{')
            {
                depth++;
            }
            else if (text[i] == '}' && --depth == 0)
            {
                break;
            }

            i++;
        }

        if (i >= text.Length)
        {
            throw new DockerfileException($"missing '}}' in \"{text}\"");
        }

        var argument = Word(text[wordStart..i]);
        var value = lookup(name);
        var set = colon ? !string.IsNullOrEmpty(value) : value is not null;
        switch (modifier)
        {
            case '-':
                output.Append(set ? value : argument);
                break;
            case '+':
                output.Append(set ? argument : "");
                break;
            default:
                if (!set)
                {
                    throw new DockerfileException($"{name}: {(argument.Length > 0 ? argument : "is not allowed to be unset")}");
                }

                output.Append(value);
                break;
        }

        return i + 1;
    }
}
