using System.Text.Json;
using Vic.PortLayer.Errors;

namespace Vic.Api.Filters;

/// <summary>
/// Parses Docker's <c>filters</c> query parameter. Two shapes are in use: <c>{"key":["v1","v2"]}</c>
/// and the older <c>{"key":{"v1":true}}</c> that docker CLI still sends for some commands.
/// </summary>
public static class FilterArgs
{
    public static IReadOnlyDictionary<string, IReadOnlySet<string>> Parse(string? json)
    {
        var terms = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(json))
        {
            return terms;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw PortLayerException.InvalidParameter($"invalid filter: {ex.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw PortLayerException.InvalidParameter("invalid filter: expected a JSON object");
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                terms[property.Name] = property.Value.ValueKind switch
                {
                    JsonValueKind.Array => property.Value.EnumerateArray().Select(StringOf).ToHashSet(StringComparer.Ordinal),
                    JsonValueKind.Object => property.Value.EnumerateObject()
                        .Where(v => v.Value.ValueKind == JsonValueKind.True).Select(v => v.Name).ToHashSet(StringComparer.Ordinal),
                    _ => throw PortLayerException.InvalidParameter($"invalid filter: values of '{property.Name}' must be a list"),
                };
            }
        }

        return terms;
    }

    /// <summary>Refuses a filter key the route does not know, with dockerd's message.</summary>
    public static void RefuseUnknown(IReadOnlyDictionary<string, IReadOnlySet<string>> filters, params string[] known)
    {
        if (filters.Keys.FirstOrDefault(k => !known.Contains(k)) is { } key)
        {
            throw PortLayerException.InvalidParameter($"invalid filter '{key}'");
        }
    }

    private static string StringOf(JsonElement element) =>
        element.ValueKind == JsonValueKind.String
            ? element.GetString()!
            : throw PortLayerException.InvalidParameter("invalid filter: values must be strings");

    /// <summary>label=key, label=key=value, and (for prune) label!=key[=value], against a thing's labels.</summary>
    public static bool MatchesLabels(IReadOnlyDictionary<string, string> labels, IReadOnlyDictionary<string, IReadOnlySet<string>> filters) =>
        (!filters.TryGetValue("label", out var wanted) || wanted.All(l => HasLabel(labels, l)))
        && (!filters.TryGetValue("label!", out var unwanted) || !unwanted.Any(l => HasLabel(labels, l)));

    private static bool HasLabel(IReadOnlyDictionary<string, string> labels, string term)
    {
        var kv = term.Split('=', 2);
        return labels.TryGetValue(kv[0], out var value) && (kv.Length == 1 || value == kv[1]);
    }
}
