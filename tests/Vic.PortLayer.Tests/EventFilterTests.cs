using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;

namespace Vic.PortLayer.Tests;

public sealed class EventFilterTests
{
    private const string WebId = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";
    private const string DbId = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809";

    private static readonly EngineEvent WebStart = Container("start", WebId, "web", "nginx:1.25", new() { ["tier"] = "front", ["env"] = "prod" });
    private static readonly EngineEvent WebDie = Container("die", WebId, "web", "nginx:1.25", new() { ["tier"] = "front", ["env"] = "prod", ["exitCode"] = "0" });
    private static readonly EngineEvent DbStart = Container("start", DbId, "db", "registry.example.com:5000/team/postgres:16", new() { ["tier"] = "back" });
    private static readonly EngineEvent WebExec = Container("exec_start: sh -c ls", WebId, "web", "nginx:1.25", new());
    private static readonly EngineEvent WebHealth = Container("health_status: healthy", WebId, "web", "nginx:1.25", new());
    private static readonly EngineEvent ImagePull = Event(EventTypes.Image, "pull", "nginx:1.25", new() { ["name"] = "nginx:1.25" });
    private static readonly EngineEvent ImageDelete = Event(EventTypes.Image, "delete", "sha256:0123abcd", new() { ["name"] = "sha256:0123abcd" });
    private static readonly EngineEvent VolumeCreate = Event(EventTypes.Volume, "create", "data", new() { ["driver"] = "local" });
    private static readonly EngineEvent NetworkConnect = Event(EventTypes.Network, "connect", "5c6d7e8f", new() { ["name"] = "bridge", ["container"] = WebId });

    private static readonly EngineEvent[] All = [WebStart, WebDie, DbStart, WebExec, WebHealth, ImagePull, ImageDelete, VolumeCreate, NetworkConnect];

    [Fact]
    public void NoFilterLetsEverythingThrough()
    {
        Assert.All(All, e => Assert.True(EventFilter.None.Matches(e)));
        Assert.Equal(All, Pass(new Dictionary<string, IReadOnlySet<string>>()));
    }

    [Fact]
    public void TypeMatchesExactly()
    {
        Assert.Equal([ImagePull, ImageDelete], Pass(("type", "image")));
        Assert.Equal([VolumeCreate], Pass(("type", "volume")));
        Assert.Empty(Pass(("type", "containers")));
    }

    [Fact]
    public void ValuesOfOneKeyAreOred()
    {
        Assert.Equal([ImagePull, ImageDelete, VolumeCreate], Pass(("type", "image"), ("type", "volume")));
        Assert.Equal([WebStart, WebDie, DbStart], Pass(("event", "start"), ("event", "die")));
    }

    [Fact]
    public void KeysAreAnded()
    {
        Assert.Equal([WebStart, DbStart], Pass(("type", "container"), ("event", "start")));
        Assert.Equal([WebStart], Pass(("event", "start"), ("container", "web")));
        Assert.Empty(Pass(("type", "image"), ("event", "start")));
        Assert.Equal([WebDie], Pass(("event", "die"), ("event", "stop"), ("label", "tier=front")));
    }

    [Fact]
    public void EventMatchesTheActionExactly()
    {
        Assert.Equal([WebDie], Pass(("event", "die")));
        Assert.Empty(Pass(("event", "sta")));
        Assert.Empty(Pass(("event", "exec_start: sh")));
        Assert.Equal([ImagePull], Pass(("event", "pull")));
    }

    [Theory]
    [InlineData("exec_start", "exec_start: sh -c ls", true)]
    [InlineData("exec_start", "exec_start", true)]
    [InlineData("exec_create", "exec_create: top -b", true)]
    [InlineData("health_status", "health_status: unhealthy", true)]
    [InlineData("exec_start", "exec_die", false)]
    [InlineData("exec_start", "exec_create: sh", false)]
    [InlineData("die", "die: 1", false)]
    [InlineData("start", "start_hook", false)]
    public void ExecAndHealthActionsMatchTheirCommandSuffixedForms(string wanted, string action, bool matches)
    {
        var filter = Filter(("event", wanted));

        Assert.Equal(matches, filter.Matches(Container(action, WebId, "web", "nginx", new())));
    }

    [Fact]
    public void ContainerMatchesByExactNameOrByIdOrIdPrefix()
    {
        Assert.Equal([WebStart, WebDie, WebExec, WebHealth], Pass(("container", "web")));
        Assert.Equal([WebStart, WebDie, WebExec, WebHealth], Pass(("container", WebId)));
        Assert.Equal([WebStart, WebDie, WebExec, WebHealth], Pass(("container", WebId[..12])));
        Assert.Equal([WebStart, WebDie, WebExec, WebHealth], Pass(("container", WebId[..1])));
        Assert.Equal([WebStart, WebDie, DbStart, WebExec, WebHealth], Pass(("container", "web"), ("container", DbId[..6])));
        Assert.Empty(Pass(("container", "nosuch")));
    }

    [Fact]
    public void AContainerFilterLeavesOutEventsOfOtherObjectsAsDockerdDoes()
    {
        // dockerd matches the actor of every event against container=..., so a volume, image or
        // network event only gets through if its own id or name matches.
        Assert.DoesNotContain(ImagePull, Pass(("container", "web")));
        Assert.DoesNotContain(VolumeCreate, Pass(("container", "web")));
        Assert.DoesNotContain(NetworkConnect, Pass(("container", "web")));
        Assert.DoesNotContain(WebStart, Pass(("volume", "data")));
        Assert.Equal([VolumeCreate], Pass(("volume", "data")));
        Assert.Equal([NetworkConnect], Pass(("network", "bridge")));
        Assert.Equal([NetworkConnect], Pass(("network", "5c6d")));
    }

    [Fact]
    public void ImageMatchesByReferenceRepositoryOrId()
    {
        Assert.Equal([WebStart, WebDie, WebExec, WebHealth, ImagePull], Pass(("image", "nginx")));
        Assert.Equal([WebStart, WebDie, WebExec, WebHealth, ImagePull], Pass(("image", "nginx:1.25")));
        Assert.Equal([DbStart], Pass(("image", "registry.example.com:5000/team/postgres")));
        Assert.Equal([DbStart], Pass(("image", "registry.example.com:5000/team/postgres:16")));
        Assert.Equal([ImageDelete], Pass(("image", "sha256:0123abcd")));
        Assert.Empty(Pass(("image", "nginx:1.24")));
        Assert.Empty(Pass(("image", "registry.example.com")));
    }

    [Fact]
    public void AnImageFilterLeavesOutEventsThatAreNotAboutThatImageAsDockerdDoes()
    {
        Assert.DoesNotContain(VolumeCreate, Pass(("image", "nginx")));
        Assert.DoesNotContain(NetworkConnect, Pass(("image", "nginx")));

        // A container's own name is not its image.
        var namedLikeAnImage = Container("start", DbId, "nginx", "alpine", new());
        Assert.False(Filter(("image", "nginx")).Matches(namedLikeAnImage));
        Assert.True(Filter(("image", "alpine")).Matches(namedLikeAnImage));
    }

    [Fact]
    public void LabelMatchesAKeyOrAKeyAndValue()
    {
        Assert.Equal([WebStart, WebDie, DbStart], Pass(("label", "tier")));
        Assert.Equal([WebStart, WebDie], Pass(("label", "tier=front")));
        Assert.Equal([DbStart], Pass(("label", "tier=back")));
        Assert.Empty(Pass(("label", "tier=fron")));
        Assert.Empty(Pass(("label", "tie")));
    }

    [Fact]
    public void EveryLabelTermMustMatch()
    {
        Assert.Equal([WebStart, WebDie], Pass(("label", "tier=front"), ("label", "env=prod")));
        Assert.Equal([WebStart, WebDie], Pass(("label", "tier"), ("label", "env")));
        Assert.Empty(Pass(("label", "tier=back"), ("label", "env=prod")));
        Assert.Equal([WebDie], Pass(("label", "env"), ("label", "exitCode=0")));
    }

    [Fact]
    public void ALabelValueMayHoldAnEqualsSign()
    {
        var e = Container("start", WebId, "web", "nginx", new() { ["conf"] = "a=b" });

        Assert.True(Filter(("label", "conf=a=b")).Matches(e));
        Assert.False(Filter(("label", "conf=a")).Matches(e));
    }

    [Fact]
    public void ScopeMatchesExactly()
    {
        Assert.Equal(All, Pass(("scope", "local")));
        Assert.Empty(Pass(("scope", "swarm")));
    }

    [Theory]
    [InlineData("x")]
    [InlineData("name")]
    [InlineData("status")]
    [InlineData("Container")]
    public void AnUnknownFilterKeyIsAnInvalidParameter(string key)
    {
        var error = Assert.Throws<PortLayerException>(() => Filter((key, "anything")));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.Equal($"invalid filter '{key}'", error.Message);
    }

    [Theory]
    [InlineData("config")]
    [InlineData("container")]
    [InlineData("daemon")]
    [InlineData("event")]
    [InlineData("image")]
    [InlineData("label")]
    [InlineData("network")]
    [InlineData("node")]
    [InlineData("plugin")]
    [InlineData("scope")]
    [InlineData("secret")]
    [InlineData("service")]
    [InlineData("type")]
    [InlineData("volume")]
    public void EveryKeyDockerdKnowsIsAccepted(string key) => Assert.NotNull(Filter((key, "v")));

    private static EngineEvent[] Pass(params (string Key, string Value)[] terms) => Pass(Terms(terms));

    private static EngineEvent[] Pass(IReadOnlyDictionary<string, IReadOnlySet<string>> terms)
    {
        var filter = new EventFilter(terms);
        return [.. All.Where(filter.Matches)];
    }

    private static EventFilter Filter(params (string Key, string Value)[] terms) => new(Terms(terms));

    private static Dictionary<string, IReadOnlySet<string>> Terms((string Key, string Value)[] terms) =>
        terms.GroupBy(t => t.Key).ToDictionary(g => g.Key, g => (IReadOnlySet<string>)g.Select(t => t.Value).ToHashSet());

    private static EngineEvent Container(string action, string id, string name, string image, Dictionary<string, string> labels)
    {
        var attributes = new Dictionary<string, string>(labels) { ["name"] = name, ["image"] = image };
        return Event(EventTypes.Container, action, id, attributes);
    }

    private static EngineEvent Event(string type, string action, string actor, Dictionary<string, string> attributes) =>
        new(type, action, actor, attributes, 1_700_000_000_000_000_000);
}
