using Vic.PortLayer.Errors;
using Vic.PortLayer.Vch;

namespace Vic.Api.Authorization;

/// <summary>What a request says beside its path: the images it names and the labels it asks for.</summary>
public sealed record CallDetails(IReadOnlyList<string> Images, IReadOnlyDictionary<string, string>? Labels, bool LabelsGiven)
{
    public static CallDetails None { get; } = new([], null, false);

    /// <summary>Other containers the call reaches into (a create's <c>--volumes-from</c> and <c>--link</c>).</summary>
    public IReadOnlyList<string> Containers { get; init; } = [];
}

/// <summary>
/// Decides whether a user may make a call under the policy, looking up what the call is aimed at in
/// the VCH (a container's labels, an exec's container, an image's tags). A refusal is a
/// <see cref="PortLayerException"/> of kind Forbidden with dockerd's authorization-plugin wording.
/// </summary>
public sealed class AccessGuard(AuthorizationPolicy policy, VchEngine engine)
{
    public AuthorizationPolicy Policy { get; } = policy;

    public void Check(string user, ApiCall call, CallDetails details)
    {
        var grant = Policy.GrantOf(user);
        if (!grant.Rights.Contains(call.Right))
        {
            var rights = grant.Rights.Count == 0 ? "none" : string.Join(", ", grant.Rights.Order().Select(r => r.ToString().ToLowerInvariant()));
            throw Refused($"user \"{user}\" may not {Describe(call.Right)} ({call.Method} {call.Route}); its rights: {rights}");
        }

        foreach (var image in details.Images.Where(i => i.Length > 0))
        {
            CheckImage(user, grant, image);
        }

        if (call.Right == AccessRight.Pull && call.Route == "/images/load" && grant.Images.Count > 0)
        {
            throw Refused($"user \"{user}\" may not load image archives: an archive may hold images of any name, and its images are {string.Join(", ", grant.Images)}");
        }

        if (details.LabelsGiven && !grant.LabelsAllowed(details.Labels))
        {
            throw Refused($"user \"{user}\" may only create containers labelled {LabelList(grant)}: add --label to the command");
        }

        foreach (var reached in details.Containers)
        {
            CheckContainer(user, grant, call, reached);
        }

        // A prune picks its victims across the VCH: a user scoped to some images or labels may not.
        if (call.Route == "/{kind}/prune" || call.Route == "/containers/prune")
        {
            if (grant.Images.Count > 0 || grant.Labels.Count > 0)
            {
                throw Refused($"user \"{user}\" may act only on some images or containers, and a prune reaches all of them");
            }
        }

        switch (call.TargetKind)
        {
            case CallTarget.Container when call.Target is { } id:
                CheckContainer(user, grant, call, id);
                break;
            case CallTarget.Exec when call.Target is { } execId:
                if (TryExecContainer(execId) is { } containerId)
                {
                    CheckContainer(user, grant, call, containerId);
                }

                break;
            case CallTarget.Image when call.Target is { } image:
                CheckImage(user, grant, image);
                break;
        }
    }

    private void CheckContainer(string user, UserGrant grant, ApiCall call, string idOrName)
    {
        if (call.Right == AccessRight.Read || grant.Labels.Count == 0)
        {
            return;
        }

        Vic.PortLayer.Containers.ContainerRecord record;
        try
        {
            record = engine.Containers.Resolve(idOrName);
        }
        catch (PortLayerException)
        {
            // Not ours to answer: the route says "No such container" as it would to anyone.
            return;
        }

        if (!grant.LabelsAllowed(record.Labels))
        {
            throw Refused($"user \"{user}\" may only act on containers labelled {LabelList(grant)}; {record.Name} is not");
        }
    }

    private void CheckImage(string user, UserGrant grant, string reference)
    {
        if (grant.ImageAllowed(reference))
        {
            return;
        }

        // An image named by its id (or a prefix of it) is allowed when one of its names is; one named
        // by another repository is not, even when that name is a tag of an allowed image.
        try
        {
            var image = engine.Images.Resolve(reference);
            var bare = reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference["sha256:".Length..] : reference;
            if (bare.Length > 0 && bare.All(char.IsAsciiHexDigitLower) && image.Id.StartsWith($"sha256:{bare}", StringComparison.Ordinal)
                && image.RepoTags.Any(grant.ImageAllowed))
            {
                return;
            }
        }
        catch (PortLayerException)
        {
        }

        throw Refused($"user \"{user}\" may not use image \"{reference}\": its images are {string.Join(", ", grant.Images)}");
    }

    private string? TryExecContainer(string execId)
    {
        try
        {
            return engine.Runtime.Exec(execId).ContainerId;
        }
        catch (PortLayerException)
        {
            return null;
        }
    }

    private static string LabelList(UserGrant grant) => string.Join(", ", grant.Labels.Select(l => $"{l.Key}={l.Value}"));

    private static string Describe(AccessRight right) => right switch
    {
        AccessRight.Read => "read the VCH",
        AccessRight.Run => "run or change containers",
        AccessRight.Exec => "exec in containers",
        AccessRight.Pull => "pull, import or tag images",
        AccessRight.Push => "push images",
        AccessRight.Build => "build or commit images",
        AccessRight.Remove => "remove containers, images, volumes or networks",
        _ => "manage the VCH's volumes, networks or settings",
    };

    private static PortLayerException Refused(string message) =>
        PortLayerException.Forbidden($"authorization denied by plugin {AuthorizationPolicy.PluginName}: {message}");
}
