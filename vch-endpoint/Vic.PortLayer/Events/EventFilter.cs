using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Events;

/// <summary>
/// Docker's event filters: keys are ANDed, values of one key ORed, except <c>label</c>, whose values
/// must all match. Names match exactly, ids by prefix, as dockerd does.
/// </summary>
public sealed class EventFilter
{
    private static readonly HashSet<string> ValidKeys =
    [
        "config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
        "secret", "service", "type", "volume",
    ];

    private static readonly HashSet<string> ActionsMatchedByPrefix = ["health_status", "exec_create", "exec_start"];

    private readonly IReadOnlyDictionary<string, IReadOnlySet<string>> _terms;

    public EventFilter(IReadOnlyDictionary<string, IReadOnlySet<string>> terms)
    {
        foreach (var key in terms.Keys)
        {
            if (!ValidKeys.Contains(key))
            {
                throw PortLayerException.InvalidParameter($"invalid filter '{key}'");
            }
        }

        _terms = terms;
    }

    public static EventFilter None { get; } = new(new Dictionary<string, IReadOnlySet<string>>());

    public bool Matches(EngineEvent e) =>
        Exact("scope", e.Scope)
        && Exact("type", e.Type)
        && MatchesAction(e.Action)
        && NameOrIdFor("container", e)
        && NameOrIdFor("daemon", e)
        && NameOrIdFor("volume", e)
        && NameOrIdFor("network", e)
        && NameOrIdFor("plugin", e)
        && NameOrIdFor("node", e)
        && NameOrIdFor("service", e)
        && NameOrIdFor("secret", e)
        && NameOrIdFor("config", e)
        && MatchesImage(e)
        && MatchesLabels(e.Attributes);

    private bool Exact(string key, string value) => !_terms.TryGetValue(key, out var wanted) || wanted.Contains(value);

    private bool MatchesAction(string action)
    {
        if (!_terms.TryGetValue("event", out var wanted))
        {
            return true;
        }

        // dockerd lets "exec_start" match "exec_start: sh -c ..." since those actions carry the command.
        return wanted.Contains(action)
            || wanted.Any(w => ActionsMatchedByPrefix.Contains(w) && action.StartsWith(w, StringComparison.Ordinal));
    }

    private bool NameOrIdFor(string key, EngineEvent e)
    {
        // As in dockerd, the term applies to every event, not only to those of its type: with
        // container=web, an image or volume event passes only if its own actor is named or id'd so.
        if (!_terms.TryGetValue(key, out var wanted))
        {
            return true;
        }

        e.Attributes.TryGetValue("name", out var name);
        return wanted.Any(w => w == name || (w.Length > 0 && e.ActorId.StartsWith(w, StringComparison.Ordinal)));
    }

    private bool MatchesImage(EngineEvent e)
    {
        if (!_terms.TryGetValue("image", out var wanted))
        {
            return true;
        }

        // As dockerd: the actor or the image it names (an image's "name", anyone else's "image"),
        // with or without tag. Events about no image at all do not pass.
        var image = e.Attributes.GetValueOrDefault(e.Type == EventTypes.Image ? "name" : "image", "");
        return wanted.Any(w => w == e.ActorId || w == image || w == StripTag(e.ActorId) || w == StripTag(image));
    }

    private bool MatchesLabels(IReadOnlyDictionary<string, string> attributes)
    {
        if (!_terms.TryGetValue("label", out var wanted))
        {
            return true;
        }

        return wanted.All(term =>
        {
            var eq = term.IndexOf('=', StringComparison.Ordinal);
            return eq < 0
                ? attributes.ContainsKey(term)
                : attributes.TryGetValue(term[..eq], out var value) && value == term[(eq + 1)..];
        });
    }

    private static string StripTag(string reference)
    {
        var slash = reference.LastIndexOf('/');
        var colon = reference.LastIndexOf(':');
        return colon > slash ? reference[..colon] : reference;
    }
}
