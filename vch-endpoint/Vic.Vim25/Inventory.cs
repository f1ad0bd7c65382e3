using static Vic.Vim25.Soap.VimXml;

namespace Vic.Vim25;

/// <summary>Finding things: inventory paths (<c>DC0/host/DC0_C0/Resources</c>) and container views.</summary>
public static class Inventory
{
    /// <summary>The object at an inventory path, or null when there is none.</summary>
    public static async Task<ManagedObjectReference?> FindByInventoryPathAsync(this VimSession session, string path, CancellationToken cancellationToken)
    {
        var found = await session.InvokeAsync("FindByInventoryPath", session.Content.SearchIndex, [E("inventoryPath", path)], cancellationToken).ConfigureAwait(false);
        return found.Count == 0 ? null : ToRef(found[0]);
    }

    /// <summary>A view of the objects of <paramref name="types"/> under <paramref name="container"/>; destroy it when done.</summary>
    public static Task<ManagedObjectReference> CreateContainerViewAsync(this VimSession session, ManagedObjectReference container, IReadOnlyList<string> types, bool recursive, CancellationToken cancellationToken) =>
        session.InvokeAsync(
            "CreateContainerView",
            session.Content.ViewManager,
            [Ref("container", container), .. types.Select(t => E("type", t)), E("recursive", recursive)],
            ToRef,
            cancellationToken);

    public static Task DestroyViewAsync(this VimSession session, ManagedObjectReference view, CancellationToken cancellationToken) =>
        session.InvokeAsync("DestroyView", view, [], cancellationToken);

    /// <summary>The properties of every object of <paramref name="type"/> under <paramref name="container"/> (the root folder by default).</summary>
    public static async Task<IReadOnlyList<ObjectContent>> ListAsync(this VimSession session, string type, IReadOnlyList<string> paths, CancellationToken cancellationToken, ManagedObjectReference? container = null)
    {
        var view = await session.CreateContainerViewAsync(container ?? session.Content.RootFolder, [type], recursive: true, cancellationToken).ConfigureAwait(false);
        try
        {
            return await session.RetrieveViewAsync(view, type, paths, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await session.DestroyViewAsync(view, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Destroys a managed entity (VM, pool, folder) and waits for it to go.</summary>
    public static Task DestroyAsync(this VimSession session, ManagedObjectReference entity, CancellationToken cancellationToken) =>
        session.RunTaskAsync("Destroy_Task", entity, [], cancellationToken);

    /// <summary>Calls a <c>*_Task</c> method and waits for the task; returns its result element, if any.</summary>
    public static async Task<System.Xml.Linq.XElement?> RunTaskAsync(this VimSession session, string method, ManagedObjectReference target, IEnumerable<System.Xml.Linq.XElement?> arguments, CancellationToken cancellationToken)
    {
        var task = await session.InvokeAsync(method, target, arguments, ToRef, cancellationToken).ConfigureAwait(false);
        return await session.WaitForTaskAsync(task, cancellationToken).ConfigureAwait(false);
    }
}
