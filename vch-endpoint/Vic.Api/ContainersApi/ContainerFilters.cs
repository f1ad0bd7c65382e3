using Vic.Api.Filters;
using System.Text.RegularExpressions;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Vch;

namespace Vic.Api.ContainersApi;

/// <summary>
/// The filters of <c>GET /containers/json</c> (docker ps -f) with dockerd's meanings. Networks are
/// not attached to ContainerVMs yet, so those filters match no container.
/// </summary>
public static class ContainerFilters
{
    private static readonly HashSet<string> Known =
    [
        "ancestor", "before", "expose", "exited", "health", "id", "is-task", "label", "name", "network", "publish", "since", "status", "volume",
    ];

    private static readonly HashSet<string> States = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

    private static readonly HashSet<string> HealthStates = ["starting", "healthy", "unhealthy", "none"];

    public static Func<ContainerRecord, bool> Build(IReadOnlyDictionary<string, IReadOnlySet<string>> filters, VchEngine engine)
    {
        foreach (var key in filters.Keys.Where(k => !Known.Contains(k)))
        {
            throw PortLayerException.InvalidParameter($"invalid filter '{key}'");
        }

        var tests = new List<Func<ContainerRecord, bool>>();
        if (filters.TryGetValue("status", out var states))
        {
            foreach (var state in states.Where(s => !States.Contains(s)))
            {
                throw PortLayerException.InvalidParameter($"invalid filter 'status={state}'");
            }

            tests.Add(c => states.Contains(c.Status.State.ToWire()));
        }

        if (filters.TryGetValue("health", out var health))
        {
            foreach (var state in health.Where(s => !HealthStates.Contains(s)))
            {
                throw PortLayerException.InvalidParameter($"Unrecognised filter value for health: {state}");
            }

            tests.Add(c => health.Contains(c.Health?.Status ?? "none"));
        }

        if (filters.TryGetValue("id", out var ids))
        {
            tests.Add(c => ids.Any(i => c.Id.StartsWith(i, StringComparison.Ordinal)));
        }

        if (filters.TryGetValue("name", out var names))
        {
            var patterns = names.Select(n => Pattern(n.TrimStart('/'))).ToList();
            tests.Add(c => patterns.Any(p => p.IsMatch(c.Name)));
        }

        if (filters.TryGetValue("exited", out var codes))
        {
            var numbers = codes.Select(code => int.TryParse(code, out var n) ? n : throw PortLayerException.InvalidParameter($"invalid filter 'exited={code}'")).ToHashSet();
            tests.Add(c => c.Status is ExitedStatus && numbers.Contains(c.Status.ExitCode));
        }

        if (filters.TryGetValue("ancestor", out var ancestors))
        {
            var imageIds = ancestors.Select(a => engine.Images.Catalog.Find(a)?.Id).OfType<string>().ToHashSet();
            tests.Add(c => imageIds.Contains(c.ImageId) || ancestors.Contains(c.Image));
        }

        if (filters.TryGetValue("before", out var before))
        {
            var limit = before.Select(b => engine.Containers.Resolve(b).Created).Min();
            tests.Add(c => c.Created < limit);
        }

        if (filters.TryGetValue("since", out var since))
        {
            var limit = since.Select(s => engine.Containers.Resolve(s).Created).Max();
            tests.Add(c => c.Created > limit);
        }

        if (filters.TryGetValue("volume", out var volumes))
        {
            tests.Add(c => c.Config.Mounts.Any(m => volumes.Contains(m.Name) || volumes.Contains(m.Target)));
        }

        if (filters.TryGetValue("network", out var networks))
        {
            var networkIds = networks.Select(n => engine.Networks.Find(n)?.Id).OfType<string>().ToHashSet();
            tests.Add(c => c.Networks.Any(e => networks.Contains(e.Key) || networkIds.Contains(e.Value.NetworkId)));
        }

        if (filters.TryGetValue("publish", out var published))
        {
            var ports = published.Select(Port).ToList();
            tests.Add(c => ports.Any(p => c.Config.PortBindings.Any(b => Port(b.ContainerPort) == p) || c.Ports.Any(q => (q.ContainerPort, q.Protocol) == p)));
        }

        if (filters.TryGetValue("expose", out var exposed))
        {
            var ports = exposed.Select(Port).ToList();
            tests.Add(c => ports.Any(p => c.Config.ExposedPorts.Concat(c.Config.PortBindings.Select(b => b.ContainerPort)).Any(e => Port(e) == p)));
        }

        tests.Add(c => MatchesLabels(c, filters));
        return c => tests.All(t => t(c));
    }

    private static (int Port, string Protocol) Port(string text)
    {
        var (first, _, protocol) = Vic.PortLayer.Networks.PortNotation.Parse(text);
        return (first, protocol);
    }

    /// <summary>label=key, label=key=value, and (for prune) label!=key[=value].</summary>
    public static bool MatchesLabels(ContainerRecord c, IReadOnlyDictionary<string, IReadOnlySet<string>> filters) => FilterArgs.MatchesLabels(c.Labels, filters);

    /// <summary>
    /// A user's pattern may backtrack without end, so matching has a limit; it is wall-clock time, and
    /// 100 ms ran out on a short name while ContainerVMs kept both cores busy.
    /// </summary>
    private static readonly TimeSpan PatternLimit = TimeSpan.FromSeconds(2);

    /// <summary>dockerd matches names as regular expressions; a pattern that is not one matches as text.</summary>
    private static Regex Pattern(string pattern)
    {
        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant, PatternLimit);
        }
        catch (ArgumentException)
        {
            return new Regex(Regex.Escape(pattern), RegexOptions.CultureInvariant, PatternLimit);
        }
    }
}
