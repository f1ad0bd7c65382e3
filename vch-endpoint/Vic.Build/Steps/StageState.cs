using System.Text.Json.Nodes;
using Vic.Build.Context;
using Vic.Build.Dockerfile;

namespace Vic.Build.Steps;

/// <summary>
/// One stage of a build as it goes: the image it has reached (null while it is <c>FROM scratch</c>
/// with nothing done), that image's config as the next step will commit it, and the ARGs the stage
/// declared. The instructions that only change the config are applied here.
/// </summary>
internal sealed class StageState
{
    /// <summary>Build arguments Docker predefines: usable without an ARG line, and never reported as unused.</summary>
    public static readonly IReadOnlySet<string> PredefinedArgs = new HashSet<string>(StringComparer.Ordinal)
    {
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
    };

    private readonly IReadOnlyDictionary<string, string?> _buildArgs;
    private readonly char _escape;

    public StageState(string? name, string? imageId, JsonObject settings, IReadOnlyDictionary<string, string?> buildArgs, char escape)
    {
        Name = name;
        ImageId = imageId;
        Settings = settings;
        _buildArgs = buildArgs;
        _escape = escape;
    }

    public string? Name { get; }

    public string? ImageId { get; set; }

    /// <summary>The image config's <c>config</c> object, changed step by step.</summary>
    public JsonObject Settings { get; }

    /// <summary>MAINTAINER: the image's author.</summary>
    public string Author { get; set; } = "";

    /// <summary>Whether this stage set CMD (an ENTRYPOINT then keeps it).</summary>
    public bool CmdSet { get; set; }

    /// <summary>ARGs this stage declared, with the values they have.</summary>
    public Dictionary<string, string?> Args { get; } = new(StringComparer.Ordinal);

    /// <summary>Build args some ARG line consumed (the rest are reported unused at the end).</summary>
    public HashSet<string> Consumed { get; } = new(StringComparer.Ordinal);

    public IReadOnlyList<string> ShellPrefix =>
        Settings["Shell"] is JsonArray shell && shell.Count > 0 ? [.. shell.Select(s => s!.GetValue<string>())] : ["/bin/sh", "-c"];

    public IReadOnlyList<string> Environment => Settings["Env"] is JsonArray env ? [.. env.Select(e => e!.GetValue<string>())] : [];

    public string WorkingFolder => Settings["WorkingDir"]?.GetValue<string>() is { Length: > 0 } dir ? dir : "/";

    public string RunAs => Settings["User"]?.GetValue<string>() ?? "";

    /// <summary>Words processed with this stage's variables: ENV first, then ARG values.</summary>
    public ShellWords Words => new(_escape, Lookup);

    /// <summary>The ARGs a RUN sees as environment (those not shadowed by ENV), as <c>name=value</c>.</summary>
    public IReadOnlyList<string> ArgEnvironment()
    {
        var env = Environment.Select(e => e.Split('=', 2)[0]).ToHashSet(StringComparer.Ordinal);
        return [.. Args.Where(a => a.Value is not null && !env.Contains(a.Key)).Select(a => $"{a.Key}={a.Value}")
            .Concat(_buildArgs.Where(a => PredefinedArgs.Contains(a.Key) && a.Value is not null && !env.Contains(a.Key) && !Args.ContainsKey(a.Key)).Select(a => $"{a.Key}={a.Value}"))];
    }

    public string? Lookup(string name)
    {
        foreach (var variable in Environment)
        {
            var equals = variable.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && variable.AsSpan(0, equals).SequenceEqual(name))
            {
                return variable[(equals + 1)..];
            }
        }

        return Args.TryGetValue(name, out var value) ? value : PredefinedArgs.Contains(name) ? _buildArgs.GetValueOrDefault(name) : null;
    }

    /// <summary>
    /// Applies an instruction that changes only the config; returns the text dockerd records for it
    /// in the history (<c>#(nop)</c> lines), or null when the instruction is not one of those.
    /// </summary>
    public string? ApplyConfig(Instruction instruction)
    {
        if (instruction.Keyword is not ("HEALTHCHECK" or "RUN" or "COPY" or "ADD" or "FROM") && instruction.Flags.Keys.FirstOrDefault() is { } flag)
        {
            throw new BuildException($"Unknown flag: {flag}");
        }

        var words = Words;
        switch (instruction.Keyword)
        {
            case "ENV":
                var env = Settings["Env"] as JsonArray ?? [];
                var pairs = words.Pairs(instruction.Arguments, "ENV");
                foreach (var (key, value) in pairs)
                {
                    foreach (var existing in env.Where(e => e!.GetValue<string>().Split('=', 2)[0] == key).ToList())
                    {
                        env.Remove(existing);
                    }

                    env.Add(JsonValue.Create($"{key}={value}"));
                }

                Settings["Env"] = env;
                return "ENV " + string.Join(' ', pairs.Select(p => $"{p.Key}={p.Value}"));
            case "LABEL":
                var labels = Settings["Labels"] as JsonObject ?? [];
                var labelPairs = words.Pairs(instruction.Arguments, "LABEL");
                foreach (var (key, value) in labelPairs)
                {
                    labels[key] = value;
                }

                Settings["Labels"] = labels;
                return "LABEL " + string.Join(' ', labelPairs.Select(p => $"{p.Key}={p.Value}"));
            case "MAINTAINER":
                Author = words.Word(instruction.Arguments);
                return "MAINTAINER " + Author;
            case "EXPOSE":
                var ports = Settings["ExposedPorts"] as JsonObject ?? [];
                var exposed = new List<string>();
                foreach (var port in words.Words(instruction.Arguments))
                {
                    exposed.AddRange(ExpandPorts(port));
                }

                foreach (var port in exposed)
                {
                    ports[port] = new JsonObject();
                }

                Settings["ExposedPorts"] = ports;
                return "EXPOSE " + string.Join(' ', exposed.Order(StringComparer.Ordinal));
            case "VOLUME":
                var volumes = Settings["Volumes"] as JsonObject ?? [];
                var paths = instruction.JsonForm is { } json ? [.. json.Select(words.Word)] : words.Words(instruction.Arguments);
                if (paths.Count == 0 || paths.Any(p => p.Trim().Length == 0))
                {
                    throw new BuildException("VOLUME specified can not be an empty string");
                }

                foreach (var path in paths)
                {
                    volumes[path] = new JsonObject();
                }

                Settings["Volumes"] = volumes;
                return "VOLUME [" + string.Join(' ', paths) + "]";
            case "USER":
                Settings["User"] = words.Word(instruction.Arguments);
                return "USER " + Settings["User"]!.GetValue<string>();
            case "WORKDIR":
                var dir = words.Word(instruction.Arguments);
                var clean = DockerIgnore.Clean(dir.StartsWith('/') ? dir : WorkingFolder + "/" + dir);
                Settings["WorkingDir"] = clean == "." ? "/" : "/" + clean;
                return "WORKDIR " + Settings["WorkingDir"]!.GetValue<string>();
            case "STOPSIGNAL":
                Settings["StopSignal"] = words.Word(instruction.Arguments);
                return "STOPSIGNAL " + Settings["StopSignal"]!.GetValue<string>();
            case "SHELL":
                var shell = instruction.JsonForm ?? throw new BuildException("SHELL requires the arguments to be in JSON form");
                if (shell.Count == 0)
                {
                    throw new BuildException("SHELL requires at least one argument");
                }

                Settings["Shell"] = new JsonArray([.. shell.Select(s => (JsonNode)s)]);
                return "SHELL [" + string.Join(' ', shell) + "]";
            case "CMD":
                var cmd = Command(instruction);
                Settings["Cmd"] = new JsonArray([.. cmd.Select(s => (JsonNode)s)]);
                CmdSet = true;
                return "CMD [" + string.Join(' ', cmd.Select(c => $"\"{c}\"")) + "]";
            case "ENTRYPOINT":
                var entrypoint = Command(instruction);
                Settings["Entrypoint"] = entrypoint.Count == 0 ? null : new JsonArray([.. entrypoint.Select(s => (JsonNode)s)]);
                if (!CmdSet)
                {
                    // An ENTRYPOINT drops the CMD it inherited, as dockerd's builder does.
                    Settings["Cmd"] = null;
                }

                return "ENTRYPOINT [" + string.Join(' ', entrypoint.Select(c => $"\"{c}\"")) + "]";
            case "HEALTHCHECK":
                Settings["Healthcheck"] = Healthcheck(instruction);
                return "HEALTHCHECK " + instruction.Arguments;
            case "ONBUILD":
                var trigger = instruction.Arguments.Trim();
                var keyword = trigger.Split([' ', '\t'], 2)[0].ToUpperInvariant();
                if (keyword is "ONBUILD" or "FROM" or "MAINTAINER")
                {
                    throw new BuildException(keyword == "ONBUILD" ? "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed" : $"{keyword} isn't allowed as an ONBUILD trigger");
                }

                if (!DockerfileParser.Keywords.Contains(keyword))
                {
                    throw new BuildException($"unknown instruction: {keyword}");
                }

                var onbuild = Settings["OnBuild"] as JsonArray ?? [];
                onbuild.Add(JsonValue.Create(keyword + trigger[keyword.Length..]));
                Settings["OnBuild"] = onbuild;
                return "ONBUILD " + trigger;
            default:
                return null;
        }
    }

    /// <summary>An exec form as written, or the shell form under the stage's SHELL.</summary>
    public IReadOnlyList<string> Command(Instruction instruction) =>
        instruction.JsonForm ?? (instruction.Arguments.Length == 0 ? [] : [.. ShellPrefix, instruction.Arguments]);

    private JsonObject? Healthcheck(Instruction instruction)
    {
        var rest = instruction.Arguments.Trim();
        var kind = rest.Split([' ', '\t'], 2)[0].ToUpperInvariant();
        if (kind == "NONE")
        {
            return new JsonObject { ["Test"] = new JsonArray("NONE") };
        }

        if (kind != "CMD")
        {
            throw new BuildException($"Unknown type \"{kind}\" in HEALTHCHECK (try CMD)");
        }

        var command = rest[3..].TrimStart();
        var parsed = DockerfileParser.Parse("CMD " + command).Instructions[0];
        var test = parsed.JsonForm is { } exec ? new JsonArray([(JsonNode)"CMD", .. exec.Select(e => (JsonNode)e)]) : new JsonArray("CMD-SHELL", command);
        var check = new JsonObject { ["Test"] = test };
        foreach (var (flag, field) in new[] { ("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"), ("start-interval", "StartInterval") })
        {
            if (instruction.Flags.TryGetValue(flag, out var text))
            {
                check[field] = Durations.Parse(text, flag);
            }
        }

        if (instruction.Flags.TryGetValue("retries", out var retries))
        {
            check["Retries"] = int.TryParse(retries, out var n) && n >= 0 ? n : throw new BuildException($"invalid --retries value {retries}");
        }

        foreach (var flag in instruction.Flags.Keys.Where(f => f is not ("interval" or "timeout" or "start-period" or "start-interval" or "retries")))
        {
            throw new BuildException($"Unknown flag: {flag}");
        }

        return check;
    }

    private static IEnumerable<string> ExpandPorts(string port)
    {
        var slash = port.IndexOf('/', StringComparison.Ordinal);
        var protocol = slash < 0 ? "tcp" : port[(slash + 1)..].ToLowerInvariant();
        var numbers = slash < 0 ? port : port[..slash];
        var dash = numbers.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            return int.TryParse(numbers, out var single) && single is > 0 and <= 65535 ? [$"{single}/{protocol}"] : throw new BuildException($"Invalid containerPort: {port}");
        }

        return int.TryParse(numbers[..dash], out var first) && int.TryParse(numbers[(dash + 1)..], out var last) && first > 0 && last <= 65535 && first <= last
            ? Enumerable.Range(first, last - first + 1).Select(p => $"{p}/{protocol}")
            : throw new BuildException($"Invalid containerPort: {port}");
    }
}

/// <summary>Go's duration strings (<c>30s</c>, <c>1m30s</c>, <c>500ms</c>) as nanoseconds, as HEALTHCHECK's flags take them.</summary>
internal static class Durations
{
    public static long Parse(string text, string flag)
    {
        long total = 0;
        var i = 0;
        if (text == "0")
        {
            return 0;
        }

        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]) && text[i] != '.')
            {
                i++;
            }

            if (start == unitStart || !double.TryParse(text[start..unitStart], System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                throw new BuildException($"invalid --{flag} value {text}: time: invalid duration \"{text}\"");
            }

            var scale = text[unitStart..i] switch
            {
                "ns" => 1L,
                "us" or "µs" => 1_000L,
                "ms" => 1_000_000L,
                "s" => 1_000_000_000L,
                "m" => 60_000_000_000L,
                "h" => 3_600_000_000_000L,
                _ => throw new BuildException($"invalid --{flag} value {text}: time: missing or unknown unit in duration \"{text}\""),
            };
            total += (long)(value * scale);
        }

        return total;
    }
}
