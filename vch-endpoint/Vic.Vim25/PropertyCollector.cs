using System.Xml.Linq;
using Vic.Vim25.Soap;
using static Vic.Vim25.Soap.VimXml;

namespace Vic.Vim25;

/// <summary>One object's properties as <c>RetrievePropertiesEx</c> returns them, by property path.</summary>
public sealed record ObjectContent(ManagedObjectReference Obj, IReadOnlyDictionary<string, XElement> Properties)
{
    public string? Text(string path) => Properties.TryGetValue(path, out var value) ? value.Value : null;

    public ManagedObjectReference? Ref(string path) => Properties.TryGetValue(path, out var value) ? ToRef(value) : null;

    public IEnumerable<ManagedObjectReference> Refs(string path) =>
        Properties.TryGetValue(path, out var value) ? value.Elements(Vim + "ManagedObjectReference").Select(ToRef) : [];
}

/// <summary>
/// Reading properties and waiting for tasks through the PropertyCollector: <c>RetrievePropertiesEx</c>
/// (with <c>ContinueRetrievePropertiesEx</c> for long results) and <c>WaitForUpdatesEx</c>.
/// </summary>
public static class PropertyCollector
{
    /// <summary>How long one <c>WaitForUpdatesEx</c> may block on the server before it is asked again.</summary>
    private const int WaitSeconds = 30;

    /// <summary>The properties <paramref name="paths"/> of <paramref name="objects"/> (all of one type).</summary>
    public static Task<IReadOnlyList<ObjectContent>> RetrieveAsync(this VimSession session, IEnumerable<ManagedObjectReference> objects, string type, IReadOnlyList<string> paths, CancellationToken cancellationToken) =>
        RetrieveAsync(session, E("specSet", PropSet(type, paths), objects.Select(o => E("objectSet", Ref("obj", o), E("skip", "false")))), cancellationToken);

    /// <summary>The properties of every object of <paramref name="type"/> in a container view.</summary>
    public static Task<IReadOnlyList<ObjectContent>> RetrieveViewAsync(this VimSession session, ManagedObjectReference view, string type, IReadOnlyList<string> paths, CancellationToken cancellationToken) =>
        RetrieveAsync(
            session,
            E("specSet",
                PropSet(type, paths),
                E("objectSet",
                    Ref("obj", view),
                    E("skip", "true"),
                    Typed("selectSet", "TraversalSpec", E("name", "traverseEntities"), E("type", "ContainerView"), E("path", "view"), E("skip", "false")))),
            cancellationToken);

    /// <summary>One object's properties; <see cref="VimFaultException"/> ManagedObjectNotFound when it is gone.</summary>
    public static async Task<ObjectContent> RetrieveOneAsync(this VimSession session, ManagedObjectReference obj, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        var found = await RetrieveAsync(session, [obj], obj.Type, paths, cancellationToken).ConfigureAwait(false);
        return found.Count == 1 ? found[0] : throw new VimFaultException("ManagedObjectNotFound", $"{obj} does not exist");
    }

    /// <summary>
    /// Waits for <paramref name="task"/> to end; returns its result (null for none) or throws its fault.
    /// A collector of its own keeps concurrent waits from taking each other's updates.
    /// </summary>
    public static async Task<XElement?> WaitForTaskAsync(this VimSession session, ManagedObjectReference task, CancellationToken cancellationToken)
    {
        var collector = await session.InvokeAsync("CreatePropertyCollector", session.Content.PropertyCollector, [], ToRef, cancellationToken).ConfigureAwait(false);
        try
        {
            await session.InvokeAsync(
                "CreateFilter",
                collector,
                [E("spec", PropSet("Task", ["info"]), E("objectSet", Ref("obj", task), E("skip", "false"))), E("partialUpdates", "false")],
                cancellationToken).ConfigureAwait(false);
            var version = "";
            while (true)
            {
                var updates = await session.InvokeAsync(
                    "WaitForUpdatesEx",
                    collector,
                    [E("version", version), E("options", E("maxWaitSeconds", WaitSeconds))],
                    cancellationToken).ConfigureAwait(false);
                if (updates.Count == 0)
                {
                    continue;
                }

                version = updates[0].ChildText("version") ?? "";
                var info = updates[0].Descendants(Vim + "changeSet").Where(c => c.ChildText("name") == "info").Select(c => c.Child("val")).LastOrDefault(v => v is not null);
                switch (info?.ChildText("state"))
                {
                    case "success":
                        return info.Child("result");
                    case "error":
                        throw info.Child("error") is { } error ? SoapEnvelope.TaskFaultOf(error) : new VimFaultException("SystemError", $"task {task.Value} failed");
                }
            }
        }
        finally
        {
            await session.InvokeAsync("DestroyPropertyCollector", collector, [], CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static XElement PropSet(string type, IReadOnlyList<string> paths) =>
        E("propSet", E("type", type), E("all", "false"), paths.Select(p => E("pathSet", p)));

    private static async Task<IReadOnlyList<ObjectContent>> RetrieveAsync(VimSession session, XElement specSet, CancellationToken cancellationToken)
    {
        var found = new List<ObjectContent>();
        var result = await session.InvokeAsync("RetrievePropertiesEx", session.Content.PropertyCollector, [specSet, E("options")], cancellationToken).ConfigureAwait(false);
        while (result.Count > 0)
        {
            found.AddRange(result[0].Children("objects").Select(ContentOf));
            if (result[0].ChildText("token") is not { Length: > 0 } token)
            {
                break;
            }

            result = await session.InvokeAsync("ContinueRetrievePropertiesEx", session.Content.PropertyCollector, [E("token", token)], cancellationToken).ConfigureAwait(false);
        }

        return found;
    }

    private static ObjectContent ContentOf(XElement objects) =>
        new(ToRef(objects.Child("obj")!), objects.Children("propSet").ToDictionary(p => p.ChildText("name") ?? "", p => p.Child("val") ?? E("val")));
}
