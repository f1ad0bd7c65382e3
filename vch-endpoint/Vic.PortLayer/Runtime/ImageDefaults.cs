using System.Text.Json;
using Vic.PortLayer.Containers;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// Fills what a create request leaves out from the image's config, with dockerd's rules: an
/// entrypoint given on the command line drops the image's cmd; env merges by name, the request winning.
/// </summary>
public static class ImageDefaults
{
    public static ContainerConfig Merge(ContainerConfig requested, byte[] imageConfig)
    {
        using var document = JsonDocument.Parse(imageConfig);
        var image = document.RootElement.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object ? c : default;
        IReadOnlyList<string> Strings(string name) =>
            image.ValueKind == JsonValueKind.Object && image.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
                ? [.. v.EnumerateArray().Select(e => e.GetString() ?? "")]
                : [];
        string Text(string name) =>
            image.ValueKind == JsonValueKind.Object && image.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";

        // --entrypoint "" (sent as [""]) clears the image's entrypoint, and keeps its cmd away as any entrypoint does.
        IReadOnlyList<string> entrypoint = requested.Entrypoint is [""] ? [] : requested.Entrypoint.Count > 0 ? requested.Entrypoint : Strings("Entrypoint");
        var cmd = requested.Cmd.Count > 0 ? requested.Cmd : requested.Entrypoint.Count > 0 ? [] : Strings("Cmd");
        var env = new List<string>(Strings("Env"));
        foreach (var variable in requested.Env)
        {
            var name = variable.Split('=', 2)[0];
            env.RemoveAll(e => e.Split('=', 2)[0] == name);
            env.Add(variable);
        }

        IReadOnlyList<string> Keys(string name) =>
            image.ValueKind == JsonValueKind.Object && image.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object
                ? [.. v.EnumerateObject().Select(p => p.Name)]
                : [];

        return requested with
        {
            ExposedPorts = [.. Keys("ExposedPorts").Concat(requested.ExposedPorts).Distinct()],
            Entrypoint = entrypoint,
            Cmd = cmd,
            Env = env,
            WorkingDir = requested.WorkingDir.Length > 0 ? requested.WorkingDir : Text("WorkingDir"),
            User = requested.User.Length > 0 ? requested.User : Text("User"),
            Healthcheck = HealthcheckConfig.Merge(requested.Healthcheck, image.ValueKind == JsonValueKind.Object && image.TryGetProperty("Healthcheck", out var h) ? HealthcheckConfig.FromJson(h) : null),
            StopSignal = requested.StopSignal is { Length: > 0 } and not "SIGTERM" ? requested.StopSignal : Text("StopSignal") is { Length: > 0 } s ? s : "SIGTERM",
        };
    }

    /// <summary>The paths the image declares as VOLUME: each gets an anonymous volume unless mounted otherwise.</summary>
    public static IReadOnlyList<string> Volumes(byte[] imageConfig)
    {
        using var document = JsonDocument.Parse(imageConfig);
        return document.RootElement.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object
            && c.TryGetProperty("Volumes", out var v) && v.ValueKind == JsonValueKind.Object
            ? [.. v.EnumerateObject().Select(p => p.Name)]
            : [];
    }
}
