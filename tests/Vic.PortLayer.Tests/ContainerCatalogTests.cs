using System.Text.RegularExpressions;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Tests;

public sealed partial class ContainerCatalogTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();
    private readonly DateTimeOffset _start;
    private VchStore _store;
    private EventBus _events;
    private ContainerCatalog _catalog;

    public ContainerCatalogTests()
    {
        _start = _time.GetUtcNow();
        _store = VchStore.Open(StorePath);
        _events = new EventBus(_time);
        _catalog = new ContainerCatalog(_store, _events, _time);
    }

    private string StorePath => _dir.File("vch.db");

    public void Dispose()
    {
        _store.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task CreateWithANameStoresTheRecordAndPublishesCreate()
    {
        var labels = new Dictionary<string, string> { ["tier"] = "front", ["owner"] = "ops" };

        var record = _catalog.Create(new NewContainer("web", "busybox:latest", labels));

        Assert.Matches("^[0-9a-f]{64}$", record.Id);
        Assert.False(record.Id[..12].All(char.IsAsciiDigit));
        Assert.Equal("web", record.Name);
        Assert.Equal("busybox:latest", record.Image);
        Assert.Equal(_start, record.Created);
        Assert.Equal(labels, record.Labels);
        Assert.IsType<CreatedStatus>(record.Status);
        Assert.Equal(new ContainerRef(record.Id, "web"), record.Ref);

        var stored = _store.Get(RecordKind.Container, record.Id);
        Assert.NotNull(stored);
        Assert.Equal("web", stored.Name);
        Assert.Equal(record, _store.Collection<ContainerRecord>(RecordKind.Container).Get(record.Id), RecordComparer.Instance);

        var e = Assert.Single(await EventHistory.ReadAsync(_events, _time, _start));
        Assert.Equal((EventTypes.Container, "create", record.Id), (e.Type, e.Action, e.ActorId));
        Assert.Equal(
            new Dictionary<string, string> { ["tier"] = "front", ["owner"] = "ops", ["image"] = "busybox:latest", ["name"] = "web" },
            e.Attributes);
    }

    [Fact]
    public void ANameGivenWithDockersLeadingSlashIsStoredWithout()
    {
        var record = _catalog.Create(new NewContainer("/db", "postgres"));

        Assert.Equal("db", record.Name);
        Assert.Equal("db", _store.Get(RecordKind.Container, record.Id)!.Name);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void CreateWithoutANameGeneratesAnAdjectiveSurnameName(string? name)
    {
        var record = _catalog.Create(new NewContainer(name, "busybox"));

        Assert.Matches(GeneratedName(), record.Name);
        Assert.Equal(record.Id, _catalog.Resolve(record.Name).Id);
    }

    [Fact]
    public void GeneratedNamesNeverCollide()
    {
        // 200 draws from ~1,500 names collide with near certainty; the catalog must draw again.
        var names = Enumerable.Range(0, 200).Select(_ => _catalog.Create(new NewContainer(null, "busybox")).Name).ToList();

        Assert.All(names, n => Assert.Matches(GeneratedName(), n));
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    [Theory]
    [InlineData("web")]
    [InlineData("/web")]
    public async Task ATakenNameIsAConflictWithDockersText(string again)
    {
        var holder = _catalog.Create(new NewContainer("web", "busybox"));
        var published = _events.Published;

        var error = Assert.Throws<PortLayerException>(() => _catalog.Create(new NewContainer(again, "nginx")));

        Assert.Equal(ErrorKind.Conflict, error.Kind);
        Assert.Equal(
            $"Conflict. The container name \"/web\" is already in use by container \"{holder.Id}\". " +
            "You have to remove (or rename) that container to be able to reuse that name.",
            error.Message);
        Assert.Single(_catalog.List());
        Assert.Equal(1, _store.Count(RecordKind.Container));
        Assert.Equal(published, _events.Published);
        Assert.Single(await EventHistory.ReadAsync(_events, _time, _start));
    }

    [Theory]
    [InlineData("bad name")]
    [InlineData("-leading-dash")]
    [InlineData(".hidden")]
    [InlineData("x")]
    [InlineData("semi;colon")]
    [InlineData("//double")]
    public void AnInvalidNameIsAnInvalidParameter(string name)
    {
        var error = Assert.Throws<PortLayerException>(() => _catalog.Create(new NewContainer(name, "busybox")));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.Equal($"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", error.Message);
        Assert.Empty(_catalog.List());
        Assert.Equal(0, _store.Count(RecordKind.Container));
        Assert.Equal(0, _events.Published);
    }

    [Theory]
    [InlineData("a1")]
    [InlineData("My.Service_2-b")]
    [InlineData("0start")]
    public void ValidNamesAreKeptAsGiven(string name) =>
        Assert.Equal(name, _catalog.Create(new NewContainer(name, "busybox")).Name);

    [Fact]
    public void AChangeThatWouldMoveTheStateIsRefusedAndATransitionCarriesWhatChangesAlongside()
    {
        var catalog = _catalog;
        var id = catalog.Create(new NewContainer("web", "nginx")).Id;

        Assert.Throws<InvalidOperationException>(() => catalog.Change(id, r => r with { Status = new ExitedStatus() }, null));
        var restarting = catalog.Transition(id, (who, s) => s.Start(who, DateTimeOffset.UnixEpoch), "start", alongside: r => r with { RestartCount = 7, Status = new DeadStatus() });

        Assert.Equal(ContainerState.Running, restarting.Status.State);
        Assert.Equal(7, restarting.RestartCount);
        Assert.Equal(ContainerState.Running, catalog.Resolve(id).Status.State);
    }

    [Fact]
    public void ResolvesByFullIdNameSlashedNameAndUniquePrefix()
    {
        var web = _catalog.Create(new NewContainer("web", "nginx"));
        var db = _catalog.Create(new NewContainer("db", "postgres"));

        Assert.Equal(web.Id, _catalog.Resolve(web.Id).Id);
        Assert.Equal(web.Id, _catalog.Resolve("web").Id);
        Assert.Equal(web.Id, _catalog.Resolve("/web").Id);
        Assert.Equal(db.Id, _catalog.Resolve("/db").Id);

        // The shortest prefix that tells the two apart, and the 12-digit short id docker prints.
        var common = 0;
        while (web.Id[common] == db.Id[common])
        {
            common++;
        }

        Assert.Equal(web.Id, _catalog.Resolve(web.Id[..(common + 1)]).Id);
        Assert.Equal(db.Id, _catalog.Resolve(db.Id[..(common + 1)]).Id);
        Assert.Equal(web.Id, _catalog.Resolve(web.Id[..12]).Id);
    }

    [Fact]
    public void AnExactNameWinsOverAnIdPrefix()
    {
        var first = _catalog.Create(new NewContainer("first", "busybox"));
        var named = _catalog.Create(new NewContainer(first.Id[..12], "busybox"));

        Assert.Equal(named.Id, _catalog.Resolve(first.Id[..12]).Id);
        Assert.Equal(first.Id, _catalog.Resolve(first.Id).Id);
    }

    [Fact]
    public void AnAmbiguousPrefixIsAnInvalidParameter()
    {
        // 17 ids over 16 hex digits: two must share their first digit.
        var ids = Enumerable.Range(0, 17).Select(_ => _catalog.Create(new NewContainer(null, "busybox")).Id).ToList();
        var shared = ids.GroupBy(id => id[..1]).First(g => g.Count() > 1).Key;

        var error = Assert.Throws<PortLayerException>(() => _catalog.Resolve(shared));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.Equal($"multiple IDs found with provided prefix: {shared}", error.Message);
    }

    [Theory]
    [InlineData("x")]
    [InlineData("nosuch")]
    [InlineData("/ghost")]
    [InlineData("0123456789ab")]
    public void AnUnknownNameOrIdIsNotFound(string what)
    {
        _catalog.Create(new NewContainer("web", "nginx"));

        var error = Assert.Throws<PortLayerException>(() => _catalog.Resolve(what));

        Assert.Equal(ErrorKind.NotFound, error.Kind);
        Assert.Equal($"No such container: {what}", error.Message);
    }

    [Fact]
    public void AnEmptyNameOrIdIsAnInvalidParameter()
    {
        var error = Assert.Throws<PortLayerException>(() => _catalog.Resolve(""));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
    }

    [Fact]
    public async Task TransitionPersistsThenPublishesTheEvent()
    {
        var created = _catalog.Create(new NewContainer("web", "nginx", new Dictionary<string, string> { ["app"] = "shop" }));
        _time.Advance(TimeSpan.FromSeconds(5));
        var startedAt = _time.GetUtcNow();

        var running = _catalog.Transition("web", (who, s) => s.Start(who, startedAt), "start");

        Assert.Equal(created.Id, running.Id);
        Assert.Equal(created.Created, running.Created);
        var status = Assert.IsType<RunningStatus>(running.Status);
        Assert.Equal(startedAt, status.StartedAt);
        Assert.IsType<RunningStatus>(_catalog.Resolve(created.Id).Status);
        Assert.IsType<RunningStatus>(_store.Collection<ContainerRecord>(RecordKind.Container).Get(created.Id)!.Status);

        _time.Advance(TimeSpan.FromSeconds(5));
        var exitedAt = _time.GetUtcNow();
        _catalog.Transition(
            created.Id[..10],
            (who, s) => s.Exit(who, 3, exitedAt),
            "die",
            new Dictionary<string, string> { ["exitCode"] = "3" });

        var events = await EventHistory.ReadAsync(_events, _time, _start);
        Assert.Equal(["create", "start", "die"], events.Select(e => e.Action));
        Assert.All(events, e => Assert.Equal(created.Id, e.ActorId));
        Assert.Equal(EngineEvent.ToUnixNanos(startedAt), events[1].TimeNano);
        Assert.Equal("3", events[2].Attributes["exitCode"]);
        Assert.Equal("shop", events[2].Attributes["app"]);
        Assert.Equal("web", events[2].Attributes["name"]);
        Assert.False(events[1].Attributes.ContainsKey("exitCode"));

        // Since is a filter on time: only what happened from the start on.
        var sinceStart = await EventHistory.ReadAsync(_events, _time, startedAt);
        Assert.Equal(["start", "die"], sinceStart.Select(e => e.Action));
    }

    [Fact]
    public void ARefusedTransitionChangesNothingAndPublishesNothing()
    {
        var created = _catalog.Create(new NewContainer("web", "nginx"));
        var published = _events.Published;

        var error = Assert.Throws<PortLayerException>(() => _catalog.Transition("web", (who, s) => s.Pause(who), "pause"));

        Assert.Equal(ErrorKind.Conflict, error.Kind);
        Assert.Equal($"container {created.Id} is not running", error.Message);
        Assert.IsType<CreatedStatus>(_catalog.Resolve("web").Status);
        Assert.IsType<CreatedStatus>(_store.Collection<ContainerRecord>(RecordKind.Container).Get(created.Id)!.Status);
        Assert.Equal(published, _events.Published);
    }

    [Fact]
    public void TransitionOfAnUnknownContainerIsNotFound()
    {
        var called = false;

        var error = Assert.Throws<PortLayerException>(() => _catalog.Transition("ghost", (_, s) =>
        {
            called = true;
            return s;
        }, "start"));

        Assert.Equal(ErrorKind.NotFound, error.Kind);
        Assert.False(called);
    }

    [Fact]
    public void ANewCatalogOverTheReopenedStoreSeesEveryRecordInItsState()
    {
        var labels = new Dictionary<string, string> { ["k"] = "v" };
        var created = _catalog.Create(new NewContainer("created", "busybox", labels));
        var running = _catalog.Create(new NewContainer("running", "nginx"));
        _time.Advance(TimeSpan.FromMinutes(1));
        var at = _time.GetUtcNow();
        running = _catalog.Transition("running", (who, s) => s.Start(who, at), "start");
        var exited = _catalog.Create(new NewContainer("exited", "alpine"));
        _catalog.Transition("exited", (who, s) => s.Start(who, at), "start");
        _time.Advance(TimeSpan.FromMinutes(1));
        var exitAt = _time.GetUtcNow();
        exited = _catalog.Transition("exited", (who, s) => s.Exit(who, 42, exitAt, "boom"), "die");
        var paused = _catalog.Create(new NewContainer("paused", "redis"));
        _catalog.Transition("paused", (who, s) => s.Start(who, at), "start");
        paused = _catalog.Transition("paused", (who, s) => s.Pause(who), "pause");

        Reopen();

        Assert.Equal(4, _catalog.List().Count);
        Assert.Equal(created, _catalog.Resolve("created"), RecordComparer.Instance);
        Assert.Equal(running, _catalog.Resolve(running.Id), RecordComparer.Instance);
        Assert.Equal(exited, _catalog.Resolve("exited"), RecordComparer.Instance);
        Assert.Equal(paused, _catalog.Resolve("paused"), RecordComparer.Instance);

        var reread = Assert.IsType<ExitedStatus>(_catalog.Resolve("exited").Status);
        Assert.Equal((at, exitAt, 42, "boom"), (reread.StartedAt!.Value, reread.FinishedAt!.Value, reread.ExitCode, reread.Error));
        Assert.Equal(labels, _catalog.Resolve("created").Labels);

        // The names are still taken, and the reloaded records still move.
        Assert.Equal(ErrorKind.Conflict, Assert.Throws<PortLayerException>(() => _catalog.Create(new NewContainer("running", "x"))).Kind);
        Assert.IsType<RunningStatus>(_catalog.Transition("paused", (who, s) => s.Unpause(who), "unpause").Status);
        Reopen();
        Assert.IsType<RunningStatus>(_catalog.Resolve("paused").Status);
    }

    [Fact]
    public void ListIsNewestFirst()
    {
        var first = _catalog.Create(new NewContainer("first", "busybox"));
        _time.Advance(TimeSpan.FromSeconds(1));
        var second = _catalog.Create(new NewContainer("second", "busybox"));
        _time.Advance(TimeSpan.FromSeconds(1));
        var third = _catalog.Create(new NewContainer("third", "busybox"));

        Assert.Equal([third.Id, second.Id, first.Id], _catalog.List().Select(c => c.Id));
    }

    [Fact]
    public void ForgetIsRefusedUntilRemovalBegan()
    {
        var record = _catalog.Create(new NewContainer("web", "nginx"));
        var published = _events.Published;

        var error = Assert.Throws<PortLayerException>(() => _catalog.Forget(record.Id));

        Assert.Equal(ErrorKind.Conflict, error.Kind);
        Assert.Equal($"container {record.Id} must be removed before it is forgotten", error.Message);
        Assert.Equal(record.Id, _catalog.Resolve("web").Id);
        Assert.NotNull(_store.Get(RecordKind.Container, record.Id));
        Assert.Equal(published, _events.Published);

        var at = _time.GetUtcNow();
        _catalog.Transition("web", (who, s) => s.Start(who, at), "start");
        Assert.Throws<PortLayerException>(() => _catalog.Forget(record.Id));
    }

    [Fact]
    public async Task ForgetAfterRemovalBeganDeletesTheRecordAndPublishesDestroy()
    {
        var record = _catalog.Create(new NewContainer("web", "nginx", new Dictionary<string, string> { ["app"] = "shop" }));
        _catalog.Transition("web", (who, s) => s.BeginRemoval(who, force: false), "remove");

        _catalog.Forget(record.Id);

        Assert.Equal(ErrorKind.NotFound, Assert.Throws<PortLayerException>(() => _catalog.Resolve(record.Id)).Kind);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<PortLayerException>(() => _catalog.Resolve("web")).Kind);
        Assert.Empty(_catalog.List());
        Assert.Null(_store.Get(RecordKind.Container, record.Id));

        var destroy = (await EventHistory.ReadAsync(_events, _time, _start)).Last();
        Assert.Equal(("destroy", record.Id, "web", "nginx", "shop"), (destroy.Action, destroy.ActorId, destroy.Attributes["name"], destroy.Attributes["image"], destroy.Attributes["app"]));

        // The name is free again, and stays gone across a restart.
        Assert.Equal("web", _catalog.Create(new NewContainer("web", "nginx")).Name);
        Reopen();
        Assert.DoesNotContain(_catalog.List(), c => c.Id == record.Id);
    }

    [Fact]
    public void ADeadContainerMayBeForgotten()
    {
        var record = _catalog.Create(new NewContainer("web", "nginx"));
        _catalog.Transition("web", (_, s) => s.MarkDead("remove failed"), "remove");

        _catalog.Forget("web");

        Assert.Empty(_catalog.List());
        Assert.Null(_store.Get(RecordKind.Container, record.Id));
    }

    [Fact]
    public void CountByStateCountsOnlyStatesThatHaveContainers()
    {
        Assert.Empty(_catalog.CountByState());

        var at = _time.GetUtcNow();
        foreach (var name in new[] { "c1", "r1", "r2", "p1", "e1", "e2", "e3" })
        {
            _catalog.Create(new NewContainer(name, "busybox"));
        }

        foreach (var name in new[] { "r1", "r2", "p1", "e1", "e2", "e3" })
        {
            _catalog.Transition(name, (who, s) => s.Start(who, at), "start");
        }

        _catalog.Transition("p1", (who, s) => s.Pause(who), "pause");
        foreach (var name in new[] { "e1", "e2", "e3" })
        {
            _catalog.Transition(name, (who, s) => s.Exit(who, 0, at), "die");
        }

        var counts = _catalog.CountByState();

        Assert.Equal(
            new Dictionary<ContainerState, int>
            {
                [ContainerState.Created] = 1,
                [ContainerState.Running] = 2,
                [ContainerState.Paused] = 1,
                [ContainerState.Exited] = 3,
            },
            counts);
    }

    [Fact]
    public async Task ConcurrentCreatesWithTheSameNameLetExactlyOneWin()
    {
        using var go = new ManualResetEventSlim();
        var attempts = Enumerable.Range(0, 8).Select(i => Task.Run(() =>
        {
            go.Wait();
            try
            {
                return _catalog.Create(new NewContainer("only", $"image{i}"));
            }
            catch (PortLayerException e) when (e.Kind == ErrorKind.Conflict)
            {
                return null;
            }
        })).ToList();

        go.Set();
        var results = await Task.WhenAll(attempts);

        var winner = Assert.Single(results, r => r is not null);
        Assert.Equal(winner!.Id, _catalog.Resolve("only").Id);
        Assert.Equal(1, _store.Count(RecordKind.Container));
    }

    private void Reopen()
    {
        _store.Dispose();
        _store = VchStore.Open(StorePath);
        _events = new EventBus(_time);
        _catalog = new ContainerCatalog(_store, _events, _time);
    }

    [GeneratedRegex("^[a-z]+_[a-z]+$")]
    private static partial Regex GeneratedName();

    /// <summary>Records compare their labels by reference; this compares what they hold.</summary>
    private sealed class RecordComparer : IEqualityComparer<ContainerRecord?>
    {
        public static readonly RecordComparer Instance = new();

        public bool Equals(ContainerRecord? x, ContainerRecord? y) =>
            x is not null && y is not null
            && x with { Labels = y.Labels, Networks = y.Networks, Ports = y.Ports } == y
            && x.Labels.Count == y.Labels.Count
            && x.Labels.All(p => y.Labels.TryGetValue(p.Key, out var v) && v == p.Value)
            && x.Networks.Count == y.Networks.Count
            && x.Networks.All(p => y.Networks.TryGetValue(p.Key, out var v) && v.Equals(p.Value))
            && x.Ports.SequenceEqual(y.Ports);

        public int GetHashCode(ContainerRecord? obj) => obj?.Id.GetHashCode(StringComparison.Ordinal) ?? 0;
    }
}
