using System.Text;
using System.Text.Json;
using Vic.PortLayer.Errors;
using Vic.Registry;

namespace Vic.Api.ImagesApi;

/// <summary>
/// Decodes <c>X-Registry-Auth</c>: base64url JSON with username, password, serveraddress and
/// identitytoken, as the docker CLI sends after <c>docker login</c>. An empty object means anonymous.
/// </summary>
public static class RegistryAuthHeader
{
    public static RegistryCredentials? Decode(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }

        try
        {
            return Parse(Base64Text(header));
        }
        catch (FormatException)
        {
            throw PortLayerException.InvalidParameter("invalid X-Registry-Auth header: not base64");
        }
    }

    /// <summary>The text of a header in base64url (padding optional), as the CLI sends X-Registry-Auth and X-Registry-Config.</summary>
    public static string Base64Text(string header)
    {
        var base64 = header.Trim().Replace('-', '+').Replace('_', '/');
        base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
        return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
    }

    /// <summary>Reads the JSON of an auth config (also the body of <c>POST /auth</c>).</summary>
    public static RegistryCredentials? Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            string? Field(string name) => root.EnumerateObject().FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;
            var credentials = new RegistryCredentials(Field("username"), Field("password"), Field("identitytoken"));
            return credentials.IsEmpty ? null : credentials;
        }
        catch (JsonException ex)
        {
            throw PortLayerException.InvalidParameter($"invalid registry auth: {ex.Message}");
        }
    }

    /// <summary>The registry host of a login's <c>serveraddress</c>; Docker Hub's legacy URL means docker.io.</summary>
    public static string RegistryOf(string? serverAddress)
    {
        if (string.IsNullOrEmpty(serverAddress) || serverAddress.Contains("index.docker.io", StringComparison.Ordinal) || serverAddress == "docker.io")
        {
            return ImageReference.DockerHub;
        }

        var host = serverAddress.Contains("://", StringComparison.Ordinal) ? new Uri(serverAddress).Authority : serverAddress.TrimEnd('/');
        return host.Split('/')[0];
    }
}
