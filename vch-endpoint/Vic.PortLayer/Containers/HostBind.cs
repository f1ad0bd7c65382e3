namespace Vic.PortLayer.Containers;

/// <summary>
/// A folder of the VCH's host shown in the container (<c>-v /host/dir:/path[:ro]</c>,
/// <c>--mount type=bind</c>). Only a backend that runs ContainerVMs on this host can serve one.
/// </summary>
/// <param name="Source">The host folder, an absolute path.</param>
/// <param name="Target">Where it appears in the container.</param>
/// <param name="CreateSource">
/// <c>-v</c> makes a missing host folder, as dockerd does; <c>--mount</c> refuses one at create.
/// </param>
public sealed record HostBind(string Source, string Target, bool ReadOnly = false, bool CreateSource = true);
