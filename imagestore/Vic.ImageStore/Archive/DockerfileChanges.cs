using System.Text.Json;
using System.Text.Json.Nodes;
using Vic.ImageStore.Layers;

namespace Vic.ImageStore.Archive;

/// <summary>
/// The Dockerfile instructions <c>docker import --change</c> and <c>docker commit --change</c> accept,
/// applied to an image config's <c>config</c> object.
/// </summary>
public static class DockerfileChanges
{
    public static void Apply(JsonObject config, IEnumerable<string> changes)
    {
        foreach (var change in changes.Where(c => !string.IsNullOrWhiteSpace(c)))
        {
            var trimmed = change.Trim();
            var space = trimmed.IndexOfAny([' ', '\t']);
            var instruction = (space < 0 ? trimmed : trimmed[..space]).ToUpperInvariant();
            var argument = space < 0 ? "" : trimmed[(space + 1)..].Trim();
            switch (instruction)
            {
                case "CMD":
                    config["Cmd"] = Command(argument);
                    break;
                case "ENTRYPOINT":
                    config["Entrypoint"] = Command(argument);
                    break;
                case "ENV":
                    var env = config["Env"] as JsonArray ?? [];
                    foreach (var (key, value) in Pairs(argument))
                    {
                        foreach (var existing in env.Where(e => e!.GetValue<string>().StartsWith(key + "=", StringComparison.Ordinal)).ToList())
                        {
                            env.Remove(existing);
                        }

                        env.Add(JsonValue.Create($"{key}={value}"));
                    }

                    config["Env"] = env;
                    break;
                case "LABEL":
                    var labels = config["Labels"] as JsonObject ?? [];
                    foreach (var (key, value) in Pairs(argument))
                    {
                        labels[key] = value;
                    }

                    config["Labels"] = labels;
                    break;
                case "EXPOSE":
                    var ports = config["ExposedPorts"] as JsonObject ?? [];
                    foreach (var port in argument.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        ports[port.Contains('/', StringComparison.Ordinal) ? port : port + "/tcp"] = new JsonObject();
                    }

                    config["ExposedPorts"] = ports;
                    break;
                case "VOLUME":
                    var volumes = config["Volumes"] as JsonObject ?? [];
                    foreach (var volume in argument.StartsWith('[') ? Strings(argument) : [.. argument.Split(' ', StringSplitOptions.RemoveEmptyEntries)])
                    {
                        volumes[volume] = new JsonObject();
                    }

                    config["Volumes"] = volumes;
                    break;
                case "USER":
                    config["User"] = argument;
                    break;
                case "WORKDIR":
                    config["WorkingDir"] = argument;
                    break;
                case "STOPSIGNAL":
                    config["StopSignal"] = argument;
                    break;
                default:
                    throw new LayerRefusedException($"{instruction} is not a valid change command");
            }
        }
    }

    /// <summary>JSON form stays as written; shell form runs under <c>/bin/sh -c</c>, as in a Dockerfile.</summary>
    private static JsonArray Command(string argument) =>
        argument.StartsWith('[')
            ? new JsonArray([.. Strings(argument).Select(s => (JsonNode)s)])
            : new JsonArray("/bin/sh", "-c", argument);

    private static List<string> Strings(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<List<string>>(json) ?? [];
        }
        catch (JsonException ex)
        {
            throw new LayerRefusedException($"invalid JSON in change \"{json}\": {ex.Message}");
        }
    }

    /// <summary><c>KEY=value KEY2="two words"</c>, or the legacy <c>KEY value</c>.</summary>
    private static IEnumerable<(string Key, string Value)> Pairs(string argument)
    {
        if (!argument.Contains('=', StringComparison.Ordinal))
        {
            var space = argument.IndexOf(' ', StringComparison.Ordinal);
            yield return space < 0 ? (argument, "") : (argument[..space], argument[(space + 1)..].Trim());
            yield break;
        }

        var i = 0;
        while (i < argument.Length)
        {
            while (i < argument.Length && argument[i] == ' ')
            {
                i++;
            }

            var eq = argument.IndexOf('=', i);
            if (eq < 0)
            {
                yield break;
            }

            var key = argument[i..eq];
            i = eq + 1;
            string value;
            if (i < argument.Length && argument[i] == '"')
            {
                var end = argument.IndexOf('"', i + 1);
                end = end < 0 ? argument.Length : end;
                value = argument[(i + 1)..end];
                i = end + 1;
            }
            else
            {
                var end = argument.IndexOf(' ', i);
                end = end < 0 ? argument.Length : end;
                value = argument[i..end];
                i = end;
            }

            yield return (key, value);
        }
    }
}
