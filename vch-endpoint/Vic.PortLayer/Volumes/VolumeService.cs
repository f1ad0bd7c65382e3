using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Vic.ImageStore.Layers;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.PortLayer.Store;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Volumes;

/// <summary>
/// The volume stores: creates volumes as empty ext4 VMDKs under the data directory, or as folders
/// on an NFS export that ContainerVMs mount themselves; lists, inspects and removes them, refusing
/// to remove one a container uses, as dockerd does.
/// </summary>
public sealed partial class VolumeService
{
    /// <summary>VIC's default volume size.</summary>
    public const long DefaultCapacityBytes = 1L << 30;

    private readonly StoreCollection<VolumeRecord> _records;
    private readonly ContainerCatalog _containers;
    private readonly EventBus _events;
    private readonly TimeProvider _time;
    private readonly string _root;
    private readonly IReadOnlyList<VolumeStoreConfig> _stores;
    private readonly Lock _gate = new();

    public VolumeService(VchConfig config, VchStore store, ContainerCatalog containers, EventBus events, TimeProvider time)
    {
        _records = store.Collection<VolumeRecord>(RecordKind.Volume);
        _containers = containers;
        _events = events;
        _time = time;
        _root = Path.Combine(config.DataDirectory, "volumes");
        _stores = config.VolumeStores.Any(s => s.Label == VolumeStoreConfig.DefaultLabel)
            ? config.VolumeStores
            : [VolumeStoreConfig.Local, .. config.VolumeStores];
        FinishInterruptedRemovals();
    }

    /// <summary>Where a removal moves a volume's data while its record goes: <c>volumes/.removing/NAME</c>.</summary>
    private string Removing => Path.Combine(_root, ".removing");

    /// <summary>
    /// Data a removal moved aside when the endpoint died before the record went: back in place if
    /// the record is still there (the removal did not happen), else gone (it did).
    /// </summary>
    private void FinishInterruptedRemovals()
    {
        if (!Directory.Exists(Removing))
        {
            return;
        }

        foreach (var aside in Directory.EnumerateDirectories(Removing).ToList())
        {
            var name = Path.GetFileName(aside);
            if (_records.Get(name) is not null && !Directory.Exists(LocalFolder(name)))
            {
                Directory.Move(aside, LocalFolder(name));
            }
            else
            {
                Directory.Delete(aside, recursive: true);
            }
        }
    }

    public IReadOnlyList<VolumeStoreConfig> Stores => _stores;

    /// <summary>The store a volume lives in.</summary>
    public VolumeStoreConfig StoreOf(VolumeRecord volume) =>
        _stores.FirstOrDefault(s => s.Label == volume.Store)
        ?? throw PortLayerException.NotFound($"volume {volume.Name} is in volume store {volume.Store}, which this VCH no longer has");

    /// <summary>The disk a volume lives in.</summary>
    public string DiskPath(string name) => Path.Combine(_root, name, "volume.vmdk");

    /// <summary>The folder docker shows as the volume's Mountpoint: local, or its nfs:// URL.</summary>
    public string Mountpoint(string name) =>
        Find(name) is { } volume && StoreOf(volume).Nfs is { } nfs ? nfs.Url(name) : LocalFolder(name);

    private string LocalFolder(string name) => Path.Combine(_root, name);

    /// <summary>Creates a volume, or returns the one of that name (dockerd's create is idempotent).</summary>
    public VolumeRecord Create(string? name, string? driver, IReadOnlyDictionary<string, string>? options, IReadOnlyDictionary<string, string>? labels, bool anonymous = false)
    {
        var wanted = string.IsNullOrEmpty(name) ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) : name;
        if (driver is not (null or "" or "local" or "vsphere"))
        {
            // VIC's own name for its driver, "vsphere", and dockerd's "local" are one driver here.
            throw PortLayerException.NotFound($"error looking up volume plugin {driver}: plugin \"{driver}\" not found");
        }

        if (!NamePattern().IsMatch(wanted))
        {
            throw PortLayerException.InvalidParameter($"create {wanted}: \"{wanted}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path");
        }

        // The name is a folder on the data disk: longer than a file name may be, it could not be made.
        if (wanted.Length > MaxNameLength)
        {
            throw PortLayerException.InvalidParameter($"create {wanted[..16]}...: a volume name is at most {MaxNameLength} characters (this one has {wanted.Length})");
        }

        lock (_gate)
        {
            if (_records.Get(wanted) is { } existing)
            {
                return existing;
            }

            options ??= new Dictionary<string, string>();
            var capacity = options.TryGetValue("Capacity", out var text) ? ParseCapacity(text) : DefaultCapacityBytes;
            var unknown = options.Keys.FirstOrDefault(k => k is not "Capacity" and not "VolumeStore");
            if (unknown is not null)
            {
                throw PortLayerException.InvalidParameter($"create {wanted}: invalid option key: \"{unknown}\"");
            }

            var label = options.TryGetValue("VolumeStore", out var chosen) && chosen.Length > 0 ? chosen : VolumeStoreConfig.DefaultLabel;
            var store = _stores.FirstOrDefault(s => s.Label == label)
                ?? throw PortLayerException.InvalidParameter($"create {wanted}: No volume store named ({label}) exists");
            try
            {
                if (store.Nfs is { } nfs)
                {
                    // A folder on the export; its size is the export's, so Capacity does not apply.
                    NfsVolumes.Create(nfs, wanted);
                }
                else
                {
                    Directory.CreateDirectory(LocalFolder(wanted));
                    using var disk = new Ext4VmdkLayerDisk(DiskPath(wanted), capacity);
                    disk.Complete();
                }
            }
            catch (IOException)
            {
                // Half a disk (a full disk) is no volume: nothing of it stays.
                if (store.Nfs is null && Directory.Exists(LocalFolder(wanted)))
                {
                    Directory.Delete(LocalFolder(wanted), recursive: true);
                }

                throw;
            }

            var record = new VolumeRecord
            {
                Name = wanted,
                Driver = string.IsNullOrEmpty(driver) ? "local" : driver,
                CreatedAt = _time.GetUtcNow(),
                Labels = labels ?? new Dictionary<string, string>(),
                Options = options,
                CapacityBytes = store.Nfs is null ? capacity : 0,
                Anonymous = anonymous,
                Store = store.Label,
            };
            try
            {
                _records.Put(wanted, wanted, record);
            }
            catch (IOException)
            {
                // The store refused the record (a full disk): the data made for it goes too.
                if (store.Nfs is { } made)
                {
                    NfsVolumes.Remove(made, wanted);
                }
                else
                {
                    Directory.Delete(LocalFolder(wanted), recursive: true);
                }

                throw;
            }

            _events.Publish(EventTypes.Volume, "create", wanted, new Dictionary<string, string> { ["driver"] = record.Driver });
            return record;
        }
    }

    public VolumeRecord Get(string name) =>
        Find(name) ?? throw PortLayerException.NotFound($"get {name}: no such volume");

    public VolumeRecord? Find(string name) => _records.Get(name);

    public IReadOnlyList<VolumeRecord> List() => [.. _records.List().OrderBy(v => v.Name, StringComparer.Ordinal)];

    /// <summary>The containers (of any state) that mount the volume.</summary>
    public IReadOnlyList<string> UsedBy(string name) =>
        [.. _containers.List().Where(c => c.Config.Mounts.Any(m => m.Name == name)).Select(c => c.Id)];

    public void Remove(string name, bool force)
    {
        lock (_gate)
        {
            if (_records.Get(name) is null)
            {
                if (force)
                {
                    return;
                }

                throw PortLayerException.NotFound($"get {name}: no such volume");
            }

            var users = UsedBy(name);
            if (users.Count > 0)
            {
                throw PortLayerException.Conflict($"remove {name}: volume is in use - [{string.Join(", ", users)}]");
            }

            // The record goes first: a store that cannot take the change (a full disk) leaves the
            // volume whole, data and all. Local data is moved aside before, and back on failure;
            // an NFS volume's folder goes first, as before (the export has no aside), so a refused
            // record leaves a volume without data rather than data no record names.
            var nfs = StoreOf(_records.Get(name)!).Nfs;
            if (nfs is not null)
            {
                NfsVolumes.Remove(nfs, name);
            }

            var local = LocalFolder(name);
            var aside = Path.Combine(Removing, name);
            var moved = nfs is null && Directory.Exists(local);
            if (moved)
            {
                if (Directory.Exists(aside))
                {
                    Directory.Delete(aside, recursive: true);
                }

                Directory.CreateDirectory(Removing);
                Directory.Move(local, aside);
            }

            try
            {
                _records.Delete(name);
            }
            catch
            {
                if (moved)
                {
                    Directory.Move(aside, local);
                }

                throw;
            }

            if (moved)
            {
                Directory.Delete(aside, recursive: true);
            }

            _events.Publish(EventTypes.Volume, "destroy", name, new Dictionary<string, string> { ["driver"] = "local" });
        }
    }

    /// <summary>Removes unused volumes: anonymous ones, or all with <paramref name="all"/> (Docker 23's rule).</summary>
    public (IReadOnlyList<string> Removed, long Reclaimed) Prune(bool all, Func<VolumeRecord, bool> matches)
    {
        var removed = new List<string>();
        long reclaimed = 0;
        foreach (var volume in List().Where(v => (all || v.Anonymous) && matches(v) && UsedBy(v.Name).Count == 0))
        {
            var size = SizeOf(volume.Name);
            try
            {
                Remove(volume.Name, force: false);
                removed.Add(volume.Name);
                reclaimed += size;
            }
            catch (PortLayerException)
            {
                // Taken into use meanwhile.
            }
        }

        _events.Publish(EventTypes.Volume, "prune", "", new Dictionary<string, string> { ["reclaimed"] = reclaimed.ToString(CultureInfo.InvariantCulture) });
        return (removed, reclaimed);
    }

    /// <summary>Bytes the volume's disk holds on the datastore (it is sparse).</summary>
    public long SizeOf(string name) => File.Exists(DiskPath(name)) ? new FileInfo(DiskPath(name)).Length : 0;

    /// <summary>VIC's Capacity option: a number of MB, or a number with KB, MB, GB or TB (B optional).</summary>
    public static long ParseCapacity(string text)
    {
        var match = CapacityPattern().Match(text.Trim());
        if (!match.Success || !long.TryParse(match.Groups["n"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0)
        {
            throw PortLayerException.InvalidParameter($"invalid Capacity: {text} (use e.g. 512MB or 2GB)");
        }

        var shift = match.Groups["unit"].Value.ToUpperInvariant() switch
        {
            "K" => 10,
            "G" => 30,
            "T" => 40,
            _ => 20,
        };
        return n << shift;
    }

    /// <summary>A file name's limit on Linux file systems (NAME_MAX).</summary>
    private const int MaxNameLength = 255;

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^(?<n>[0-9]+)\\s*(?<unit>[KkMmGgTt]?)[Bb]?$")]
    private static partial Regex CapacityPattern();
}
