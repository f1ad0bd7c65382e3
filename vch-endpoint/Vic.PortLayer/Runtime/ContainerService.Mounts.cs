using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>A new container's mounts: those it borrows with --volumes-from, and the volumes its mounts name, made where missing.</summary>
public sealed partial class ContainerService
{
    /// <summary>
    /// <c>--volumes-from container[:ro|rw]</c>: that container's volumes and host binds, at their
    /// paths, read-only or writable as the mode says (as they were, without one); a path the new
    /// container mounts something else at keeps its own, as on dockerd.
    /// </summary>
    private ContainerConfig WithVolumesFrom(ContainerConfig config)
    {
        var mounts = config.Mounts.ToList();
        var binds = config.Binds.ToList();
        foreach (var from in config.VolumesFrom)
        {
            var colon = from.LastIndexOf(':');
            var (name, mode) = colon > 0 ? (from[..colon], from[(colon + 1)..]) : (from, "");
            if (mode is not ("" or "ro" or "rw"))
            {
                throw PortLayerException.InvalidParameter($"invalid mode: {mode} (--volumes-from {from})");
            }

            // 400, not the 404 of a lookup: the docker CLI takes a 404 from create for a missing image and pulls.
            ContainerRecord source;
            try
            {
                source = _containers.Resolve(name);
            }
            catch (PortLayerException ex) when (ex.Kind == ErrorKind.NotFound)
            {
                throw PortLayerException.InvalidParameter($"{ex.Message} (--volumes-from)");
            }

            bool ReadOnly(bool was) => mode == "" ? was : mode == "ro";
            bool Taken(string target) => mounts.Any(m => m.Target == target) || binds.Any(b => b.Target == target);
            foreach (var mount in source.Config.Mounts.Where(m => !Taken(m.Target)).ToList())
            {
                mounts.Add(mount with { ReadOnly = ReadOnly(mount.ReadOnly) });
            }

            foreach (var bind in source.Config.Binds.Where(b => !Taken(b.Target)).ToList())
            {
                binds.Add(bind with { ReadOnly = ReadOnly(bind.ReadOnly), CreateSource = false });
            }
        }

        return config with { Mounts = mounts, Binds = binds };
    }

    /// <summary>
    /// Names every mount's volume, creating those that do not exist yet (as dockerd does for -v
    /// name:/path) and an anonymous one for each bare path and each VOLUME of the image not mounted otherwise.
    /// </summary>
    private List<Volumes.VolumeMount> ResolveMounts(IReadOnlyList<Volumes.VolumeMount> requested, IReadOnlyList<string> imageVolumes, IReadOnlyList<HostBind> binds, string volumeDriver)
    {
        var mounts = new List<Volumes.VolumeMount>();
        foreach (var bind in binds)
        {
            if (binds.Count(b => b.Target == bind.Target) > 1 || requested.Any(m => m.Target == bind.Target))
            {
                throw PortLayerException.InvalidParameter($"Duplicate mount point: {bind.Target}");
            }

            if (!bind.CreateSource && !Directory.Exists(bind.Source) && !File.Exists(bind.Source))
            {
                throw PortLayerException.InvalidParameter($"invalid mount config for type \"bind\": bind source path does not exist: {bind.Source}");
            }
        }

        // A bind over an image VOLUME path takes its place, as on dockerd.
        foreach (var mount in requested.Concat(imageVolumes.Where(t => requested.All(m => m.Target != t) && binds.All(b => b.Target != t)).Select(t => new Volumes.VolumeMount("", t))))
        {
            if (mounts.Any(m => m.Target == mount.Target))
            {
                throw PortLayerException.InvalidParameter($"Duplicate mount point: {mount.Target}");
            }

            Volumes.VolumeRecord volume;
            try
            {
                volume = mount.Name.Length > 0 ? _volumes.Create(mount.Name, volumeDriver, null, mount.Labels) : _volumes.Create(null, volumeDriver, null, null, anonymous: true);
            }
            catch (PortLayerException ex) when (ex.Kind == ErrorKind.NotFound)
            {
                // 400: the docker CLI takes a 404 from create for a missing image.
                throw PortLayerException.InvalidParameter($"{ex.Message} (--volume-driver)");
            }

            mounts.Add(mount with { Name = volume.Name });
        }

        return mounts;
    }
}
