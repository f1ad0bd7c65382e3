using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Vic.Api.Errors;

namespace Vic.Api.Models;

/// <summary>Serialization as dockerd does it: property names as declared (Docker's PascalCase), compact.</summary>
public static class DockerJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static Task WriteAsync<T>(HttpContext context, T value, int status = StatusCodes.Status200OK)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = DockerError.JsonContentType;
        return context.Response.WriteAsync(JsonSerializer.Serialize(value, Options) + "\n", context.RequestAborted);
    }

    /// <summary>Adds to a JSON view in place and hands it on, for views built from shared parts.</summary>
    public static System.Text.Json.Nodes.JsonObject Also(this System.Text.Json.Nodes.JsonObject view, Action<System.Text.Json.Nodes.JsonObject> add)
    {
        add(view);
        return view;
    }
}
