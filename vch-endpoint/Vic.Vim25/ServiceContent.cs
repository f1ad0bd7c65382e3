using System.Xml.Linq;
using Vic.Vim25.Soap;

namespace Vic.Vim25;

/// <summary>What a vSphere endpoint is (<c>about</c>).</summary>
/// <param name="ApiType"><c>VirtualCenter</c> for vCenter, <c>HostAgent</c> for a lone ESXi.</param>
public sealed record AboutInfo(string FullName, string Version, string ApiVersion, string ApiType, string InstanceUuid);

/// <summary>The managers a session works through, from <c>RetrieveServiceContent</c>.</summary>
public sealed record ServiceContent(
    AboutInfo About,
    ManagedObjectReference RootFolder,
    ManagedObjectReference PropertyCollector,
    ManagedObjectReference ViewManager,
    ManagedObjectReference SessionManager,
    ManagedObjectReference SearchIndex,
    ManagedObjectReference? FileManager,
    ManagedObjectReference? VirtualDiskManager)
{
    public static ServiceContent Parse(XElement content)
    {
        var about = content.Child("about") ?? throw new VimProtocolException("the service content has no about");
        return new ServiceContent(
            new AboutInfo(
                about.ChildText("fullName") ?? "",
                about.ChildText("version") ?? "",
                about.ChildText("apiVersion") ?? "",
                about.ChildText("apiType") ?? "",
                about.ChildText("instanceUuid") ?? ""),
            Required(content, "rootFolder"),
            Required(content, "propertyCollector"),
            Required(content, "viewManager"),
            Required(content, "sessionManager"),
            Required(content, "searchIndex"),
            content.ChildRef("fileManager"),
            content.ChildRef("virtualDiskManager"));
    }

    private static ManagedObjectReference Required(XElement content, string name) =>
        content.ChildRef(name) ?? throw new VimProtocolException($"the service content has no {name}");
}
