using System.Text.RegularExpressions;

namespace Vic.Api.Authorization;

/// <summary>
/// What a user may be allowed to do, in the words an admin writes in the policy file. Each Docker
/// API call needs exactly one of them.
/// </summary>
public enum AccessRight
{
    /// <summary>Every GET and HEAD: list, inspect, logs, events, stats, export; <c>wait</c>; and <c>/auth</c> (a registry login checks credentials and keeps nothing on the VCH).</summary>
    Read,

    /// <summary>Create, start, stop, kill, restart, pause, rename, update, attach to containers; copy files into them.</summary>
    Run,

    /// <summary>Create and start exec sessions.</summary>
    Exec,

    /// <summary>Bring images into the VCH: pull, import, load, tag.</summary>
    Pull,

    /// <summary>Push images to a registry.</summary>
    Push,

    /// <summary>docker build and commit.</summary>
    Build,

    /// <summary>Remove containers, images, volumes and networks, and every prune.</summary>
    Remove,

    /// <summary>Everything else that changes the VCH: volumes, networks, swarm and plugin calls; and vicadmin, for a client certificate.</summary>
    Manage,
}

/// <summary>What a call is aimed at, for the policy's scopes.</summary>
public enum CallTarget
{
    None,
    Container,
    Exec,
    Image,
    Volume,
    Network,
}

/// <summary>
/// One Docker API call as the authorization sees it: the right it needs, the route it took (a
/// template, as the metrics name routes) and what it is aimed at.
/// </summary>
public sealed record ApiCall(string Method, string Route, AccessRight Right, CallTarget TargetKind = CallTarget.None, string? Target = null)
{
    public bool Mutates => Method is not ("GET" or "HEAD");
}

/// <summary>Tells which <see cref="ApiCall"/> a request is, from its method and version-free path.</summary>
public static partial class ApiCallClassifier
{
    private static readonly (string Method, Regex Path, string Route, AccessRight Right, CallTarget Kind)[] Rules =
    [
        ("POST", Route(@"/containers/create"), "/containers/create", AccessRight.Run, CallTarget.None),
        ("POST", Route(@"/containers/prune"), "/containers/prune", AccessRight.Remove, CallTarget.None),
        ("POST", Route(@"/containers/(?<id>[^/]+)/wait"), "/containers/{id}/wait", AccessRight.Read, CallTarget.Container),
        ("POST", Route(@"/containers/(?<id>[^/]+)/exec"), "/containers/{id}/exec", AccessRight.Exec, CallTarget.Container),
        ("POST", Route(@"/containers/(?<id>[^/]+)/(?<op>start|stop|restart|kill|pause|unpause|rename|update|resize|attach)"), "/containers/{id}/{op}", AccessRight.Run, CallTarget.Container),
        ("PUT", Route(@"/containers/(?<id>[^/]+)/archive"), "/containers/{id}/archive", AccessRight.Run, CallTarget.Container),
        ("DELETE", Route(@"/containers/(?<id>[^/]+)"), "/containers/{id}", AccessRight.Remove, CallTarget.Container),
        ("DELETE", Route(@"/containers/(?<id>[^/]+)/[^/]+"), "/containers/{id}/{link}", AccessRight.Remove, CallTarget.Container),
        ("POST", Route(@"/exec/(?<id>[^/]+)/(?<op>start|resize)"), "/exec/{id}/{op}", AccessRight.Exec, CallTarget.Exec),
        ("POST", Route(@"/commit"), "/commit", AccessRight.Build, CallTarget.None),
        ("POST", Route(@"/build"), "/build", AccessRight.Build, CallTarget.None),
        ("POST", Route(@"/(?:build|images|volumes|networks)/prune"), "/{kind}/prune", AccessRight.Remove, CallTarget.None),
        ("POST", Route(@"/images/create"), "/images/create", AccessRight.Pull, CallTarget.None),
        ("POST", Route(@"/images/load"), "/images/load", AccessRight.Pull, CallTarget.None),
        ("POST", Route(@"/images/(?<id>.+)/push"), "/images/{name}/push", AccessRight.Push, CallTarget.Image),
        ("POST", Route(@"/images/(?<id>.+)/tag"), "/images/{name}/tag", AccessRight.Pull, CallTarget.Image),
        ("DELETE", Route(@"/images/(?<id>.+)"), "/images/{name}", AccessRight.Remove, CallTarget.Image),
        ("POST", Route(@"/auth"), "/auth", AccessRight.Read, CallTarget.None),
        ("DELETE", Route(@"/volumes/(?<id>[^/]+)"), "/volumes/{name}", AccessRight.Remove, CallTarget.Volume),
        ("DELETE", Route(@"/networks/(?<id>[^/]+)"), "/networks/{id}", AccessRight.Remove, CallTarget.Network),
        ("POST", Route(@"/networks/(?<id>[^/]+)/(?<op>connect|disconnect)"), "/networks/{id}/{op}", AccessRight.Manage, CallTarget.Network),
    ];

    public static ApiCall Classify(string method, string path)
    {
        // Routing matches methods and paths whatever their case: so must the rights they need.
        method = method.ToUpperInvariant();
        if (method is "GET" or "HEAD")
        {
            return new ApiCall(method, path, AccessRight.Read);
        }

        foreach (var (ruleMethod, pattern, route, right, kind) in Rules)
        {
            if (ruleMethod == method && pattern.Match(path) is { Success: true } match)
            {
                var id = match.Groups["id"];
                var op = match.Groups["op"];
                return new ApiCall(
                    method,
                    op.Success ? route.Replace("{op}", op.Value, StringComparison.Ordinal) : route,
                    right,
                    kind,
                    id.Success ? Uri.UnescapeDataString(id.Value) : null);
            }
        }

        return new ApiCall(method, path, AccessRight.Manage);
    }

    // Case-blind, as the routes it stands in front of are: /CONTAINERS/create must need what /containers/create does.
    private static Regex Route(string pattern) => new($"^{pattern}/?$", RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture | RegexOptions.IgnoreCase, TimeSpan.FromSeconds(1));
}
