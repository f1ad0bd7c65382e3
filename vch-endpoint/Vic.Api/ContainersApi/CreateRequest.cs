using System.Text.Json;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.Api.ContainersApi;

/// <summary>Reads the body of <c>POST /containers/create</c> (swagger: ContainerCreateRequest) into the port layer's terms.</summary>
public static class CreateRequest
{
    public static (string Image, IReadOnlyDictionary<string, string> Labels, ContainerConfig Config) Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw PortLayerException.InvalidParameter("invalid JSON: the body must be a JSON object");
        }

        var image = Text(body, "Image");
        if (image.Length == 0)
        {
            throw PortLayerException.InvalidParameter("no image specified: config.Image must not be empty");
        }

        var host = body.TryGetProperty("HostConfig", out var h) && h.ValueKind == JsonValueKind.Object ? h : default;
        var restart = host.ValueKind == JsonValueKind.Object && host.TryGetProperty("RestartPolicy", out var r) && r.ValueKind == JsonValueKind.Object ? r : default;
        var nanoCpus = Number(host, "NanoCpus");
        var config = new ContainerConfig
        {
            Entrypoint = Strings(body, "Entrypoint"),
            Cmd = Strings(body, "Cmd"),
            Env = Strings(body, "Env"),
            WorkingDir = Text(body, "WorkingDir"),
            User = Text(body, "User"),
            Hostname = Text(body, "Hostname"),
            Domainname = Text(body, "Domainname"),
            Tty = Flag(body, "Tty"),
            OpenStdin = Flag(body, "OpenStdin"),
            StdinOnce = Flag(body, "StdinOnce"),
            StopSignal = Text(body, "StopSignal") is { Length: > 0 } signal ? signal : "SIGTERM",
            StopTimeout = body.TryGetProperty("StopTimeout", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : null,
            AutoRemove = Flag(host, "AutoRemove"),
            MemoryBytes = Number(host, "Memory"),
            Cpus = nanoCpus > 0 ? (int)Math.Ceiling(nanoCpus / 1e9) : 0,
            RestartPolicy = new RestartPolicy(Text(restart, "Name") is { Length: > 0 } name ? name : "no", (int)Number(restart, "MaximumRetryCount")),
            ExtraHosts = Strings(host, "ExtraHosts"),
            Dns = Strings(host, "Dns"),
            DnsSearch = Strings(host, "DnsSearch"),
        };
        var labels = body.TryGetProperty("Labels", out var l) && l.ValueKind == JsonValueKind.Object
            ? l.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : [];
        return (image, labels, config);
    }

    private static string Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";

    private static bool Flag(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

    private static long Number(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt64() : 0;

    /// <summary>Docker accepts a list or, for Cmd and Entrypoint, a single string.</summary>
    private static IReadOnlyList<string> Strings(JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value))
        {
            return [];
        }

        return value.ValueKind switch
        {
            JsonValueKind.Array => [.. value.EnumerateArray().Select(v => v.GetString() ?? "")],
            JsonValueKind.String => [value.GetString()!],
            _ => [],
        };
    }
}
