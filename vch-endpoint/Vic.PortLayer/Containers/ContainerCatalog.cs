using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Containers;

/// <summary>What a caller asks for when it creates a container record.</summary>
public sealed record NewContainer(string? Name, string Image, IReadOnlyDictionary<string, string>? Labels = null, ContainerConfig? Config = null, string ImageId = "");

/// <summary>
/// The port layer's truth about containers: resolves the names users type, applies lifecycle
/// transitions one container at a time, persists each change before acknowledging it, and
/// publishes the Docker event that goes with it.
/// </summary>
public sealed partial class ContainerCatalog
{
    private readonly StoreCollection<ContainerRecord> _records;
    private readonly EventBus _events;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ContainerRecord> _byId = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unsaved = new(StringComparer.Ordinal);

    /// <param name="macs">The backend's MAC range, when its NICs take MACs from one only.</param>
    private readonly Compute.IMacRange? _macs;

    public ContainerCatalog(VchStore store, EventBus events, TimeProvider time, Compute.IMacRange? macs = null)
    {
        _macs = macs;
        _records = store.Collection<ContainerRecord>(RecordKind.Container);
        _events = events;
        _time = time;
        foreach (var record in _records.List())
        {
            _byId[record.Id] = record;
        }
    }

    public ContainerRecord Create(NewContainer request)
    {
        lock (_gate)
        {
            var id = NewId();
            var name = request.Name is { Length: > 0 } given ? ValidName(given) : UniqueGeneratedName();
            if (_byId.Values.FirstOrDefault(c => c.Name == name) is { } holder)
            {
                throw PortLayerException.Conflict(
                    $"Conflict. The container name \"/{name}\" is already in use by container \"{holder.Id}\". " +
                    "You have to remove (or rename) that container to be able to reuse that name.");
            }

            var record = new ContainerRecord
            {
                Id = id,
                Name = name,
                Image = request.Image,
                Created = _time.GetUtcNow(),
                Labels = request.Labels ?? new Dictionary<string, string>(),
                Status = new CreatedStatus(),
                Config = request.Config ?? new ContainerConfig(),
                ImageId = request.ImageId,
                AssignedMac = _macs?.BridgeMacFor(id, _byId.Values.Select(c => c.MacAddress.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal)),
            };
            Commit(record, "create", strict: true);
            return record;
        }
    }

    /// <summary>
    /// Finds a container the way dockerd does: full id, then exact name (with or without the
    /// leading slash), then a unique id prefix.
    /// </summary>
    public ContainerRecord Resolve(string idOrName)
    {
        lock (_gate)
        {
            return ResolveLocked(idOrName);
        }
    }

    /// <summary>Whether the catalog holds a container of this full id.</summary>
    public bool Contains(string id)
    {
        lock (_gate)
        {
            return _byId.ContainsKey(id);
        }
    }

    public IReadOnlyList<ContainerRecord> List()
    {
        lock (_gate)
        {
            return [.. _byId.Values.OrderByDescending(c => c.Created)];
        }
    }

    /// <summary>How many containers are in each state; states with none are absent.</summary>
    public IReadOnlyDictionary<ContainerState, int> CountByState()
    {
        lock (_gate)
        {
            return _byId.Values.GroupBy(c => c.Status.State).ToDictionary(g => g.Key, g => g.Count());
        }
    }

    /// <summary>
    /// Applies one lifecycle transition. The transition may refuse (throwing Docker's error); if it
    /// succeeds the new record is stored, then the event named <paramref name="action"/> (if any) is published.
    /// </summary>
    /// <param name="alongside">What else changes with the move, in the same write (a restart's count, a start's health).</param>
    public ContainerRecord Transition(
        string idOrName,
        Func<ContainerRef, ContainerStatus, ContainerStatus> transition,
        string? action,
        IReadOnlyDictionary<string, string>? extraAttributes = null,
        Func<ContainerRecord, ContainerRecord>? alongside = null)
    {
        lock (_gate)
        {
            var current = ResolveLocked(idOrName);
            var moved = current with { Status = transition(current.Ref, current.Status) };
            var next = (alongside?.Invoke(moved) ?? moved) with { Status = moved.Status };
            Commit(next, action, extraAttributes);
            return next;
        }
    }

    /// <summary>Changes what a container is (its config, counters, health) without a lifecycle move.</summary>
    /// <exception cref="InvalidOperationException">The change moved the container's state: only <see cref="Transition"/> may.</exception>
    public ContainerRecord Change(string idOrName, Func<ContainerRecord, ContainerRecord> change, string? action, IReadOnlyDictionary<string, string>? extraAttributes = null)
    {
        lock (_gate)
        {
            var current = ResolveLocked(idOrName);
            var next = change(current);
            if (!Equals(next.Status, current.Status))
            {
                throw new InvalidOperationException($"container {current.Id}: a state moves only by a transition, which checks it is legal");
            }

            Commit(next, action, extraAttributes);
            return next;
        }
    }

    /// <summary>docker rename: the new name must be valid, different and free; publishes <c>rename</c> with the old name.</summary>
    public ContainerRecord Rename(string idOrName, string newName)
    {
        if (string.IsNullOrEmpty(idOrName) || string.IsNullOrEmpty(newName))
        {
            throw PortLayerException.InvalidParameter("Neither old nor new names may be empty");
        }

        lock (_gate)
        {
            var current = ResolveLocked(idOrName);
            var name = ValidName(newName);
            if (name == current.Name)
            {
                throw PortLayerException.InvalidParameter("Renaming a container with the same name as its current name");
            }

            if (_byId.Values.FirstOrDefault(c => c.Name == name) is { } holder)
            {
                throw PortLayerException.Conflict(
                    $"Error when allocating new name: Conflict. The container name \"/{name}\" is already in use by container \"{holder.Id}\". " +
                    "You have to remove (or rename) that container to be able to reuse that name.");
            }

            var renamed = current with { Name = name };
            Commit(renamed, "rename", new Dictionary<string, string> { ["oldName"] = "/" + current.Name });
            return renamed;
        }
    }

    /// <summary>dockerd reports a prune as one event with the bytes it freed.</summary>
    public void PublishPrune(long reclaimed) =>
        _events.Publish(EventTypes.Container, "prune", "", new Dictionary<string, string> { ["reclaimed"] = reclaimed.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    /// <summary>Forgets a container whose removal finished; publishes <c>destroy</c>.</summary>
    public void Forget(string id)
    {
        lock (_gate)
        {
            var current = ResolveLocked(id);
            if (current.Status is not RemovingStatus and not DeadStatus)
            {
                throw PortLayerException.Conflict($"container {current.Id} must be removed before it is forgotten");
            }

            _records.Delete(current.Id);
            _byId.Remove(current.Id);
            _unsaved.Remove(current.Id);
            _events.Publish(EventTypes.Container, "destroy", current.Id, Attributes(current, null));
        }
    }

    private ContainerRecord ResolveLocked(string idOrName)
    {
        if (string.IsNullOrEmpty(idOrName))
        {
            throw PortLayerException.InvalidParameter("container name or ID cannot be empty");
        }

        if (_byId.TryGetValue(idOrName, out var exact))
        {
            return exact;
        }

        var name = idOrName.TrimStart('/');
        if (_byId.Values.FirstOrDefault(c => c.Name == name) is { } named)
        {
            return named;
        }

        var byPrefix = _byId.Values.Where(c => c.Id.StartsWith(idOrName, StringComparison.Ordinal)).Take(2).ToList();
        return byPrefix.Count switch
        {
            1 => byPrefix[0],
            0 => throw PortLayerException.NotFound($"No such container: {idOrName}"),
            _ => throw PortLayerException.InvalidParameter($"multiple IDs found with provided prefix: {idOrName}"),
        };
    }

    /// <summary>
    /// Takes in a record found with its ContainerVM (the hypervisor's inventory), when this store
    /// has lost it; false when the id, or its name, is already taken here.
    /// </summary>
    public bool Adopt(ContainerRecord record)
    {
        lock (_gate)
        {
            if (_byId.ContainsKey(record.Id) || _byId.Values.Any(c => c.Name == record.Name))
            {
                return false;
            }

            Commit(record, null);
            return true;
        }
    }

    /// <param name="strict">
    /// A new record must be stored or refused. A change to a known one is a fact about the world (a
    /// process exited) that a store which cannot write (its disk full) must not undo: it holds in
    /// memory and is stored with the next write that succeeds.
    /// </param>
    private void Commit(ContainerRecord record, string? action, IReadOnlyDictionary<string, string>? extra = null, bool strict = false)
    {
        SaveUnsaved();
        try
        {
            _records.Put(record.Id, record.Name, record);
            _unsaved.Remove(record.Id);
        }
        catch (Exception ex) when (!strict && ex is IOException or Microsoft.Data.Sqlite.SqliteException)
        {
            _unsaved.Add(record.Id);
        }

        _byId[record.Id] = record;
        if (action is not null)
        {
            _events.Publish(EventTypes.Container, action, record.Id, Attributes(record, extra));
        }
    }

    /// <summary>Stores the changes a failing store could not take; those that still fail wait for the next write.</summary>
    private void SaveUnsaved()
    {
        foreach (var id in _unsaved.ToList())
        {
            try
            {
                if (_byId.TryGetValue(id, out var record))
                {
                    _records.Put(record.Id, record.Name, record);
                }

                _unsaved.Remove(id);
            }
            catch (Exception ex) when (ex is IOException or Microsoft.Data.Sqlite.SqliteException)
            {
                return;
            }
        }
    }

    /// <summary>How many changes wait for the store to take them (its disk full): 0 when all are stored.</summary>
    public int Unsaved
    {
        get
        {
            lock (_gate)
            {
                return _unsaved.Count;
            }
        }
    }

    private static Dictionary<string, string> Attributes(ContainerRecord record, IReadOnlyDictionary<string, string>? extra)
    {
        // dockerd puts the labels, the image and the name beside one another in the attributes.
        var attributes = new Dictionary<string, string>(record.Labels, StringComparer.Ordinal)
        {
            ["image"] = record.Image,
            ["name"] = record.Name,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            attributes[key] = value;
        }

        return attributes;
    }

    private static string ValidName(string name)
    {
        var bare = name.StartsWith('/') ? name[1..] : name;
        if (!NamePattern().IsMatch(bare))
        {
            throw PortLayerException.InvalidParameter(
                $"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        }

        return bare;
    }

    private string UniqueGeneratedName()
    {
        while (true)
        {
            var name = ContainerNames.Generate();
            if (_byId.Values.All(c => c.Name != name))
            {
                return name;
            }
        }
    }

    private string NewId()
    {
        while (true)
        {
            var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

            // A 12-digit prefix that is all digits could be read as a number by some clients; dockerd avoids it too.
            if (!_byId.ContainsKey(id) && !id[..12].All(char.IsAsciiDigit))
            {
                return id;
            }
        }
    }

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
    private static partial Regex NamePattern();
}
