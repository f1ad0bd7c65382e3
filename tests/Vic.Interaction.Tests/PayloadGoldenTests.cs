using System.Text;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Vic.Interaction;

namespace Vic.Interaction.Tests;

/// <summary>
/// The exact JSON of every payload the endpoint and the tether exchange, with every field set. A
/// tether keeps running in its ContainerVM across an endpoint upgrade: a renamed property or a
/// changed default on either side is a wire change, and fails here before it reaches a guest.
/// </summary>
public sealed class PayloadGoldenTests
{
    private static readonly DateTimeOffset When = new(2026, 12, 4, 8, 0, 0, TimeSpan.Zero);

    public static TheoryData<string> Names => [.. Cases.Keys];

    internal static Dictionary<string, (Func<string> Write, Func<string, string> RoundTrip, string Golden)> Cases => new()
    {
        ["HelloMessage"] = Case(new HelloMessage(1, "6.1.0-vic", "b007", 12.5, 13.25), InteractionJson.Default.HelloMessage,
            """{"version":1,"kernel":"6.1.0-vic","bootId":"b007","startedAt":12.5,"sentAt":13.25}"""),
        ["ContainerSpec"] = Case(FullSpec(), InteractionJson.Default.ContainerSpec, FullSpecGolden),
        ["NetworkSpec"] = Case(FullNetwork(), InteractionJson.Default.NetworkSpec, FullNetworkGolden),
        ["ExecSpec"] = Case(new ExecSpec { Args = ["sh", "-c", "id"], Env = ["A=1"], WorkingDir = "/w", User = "1:2", Tty = true, OpenStdin = true, Privileged = true }, InteractionJson.Default.ExecSpec,
            """{"args":["sh","-c","id"],"env":["A=1"],"workingDir":"/w","user":"1:2","tty":true,"openStdin":true,"privileged":true}"""),
        ["StartedMessage"] = Case(new StartedMessage(42, new StartTimings(1.5, 2.5, 3.5, 4.5, "overlay", "spawn")), InteractionJson.Default.StartedMessage,
            """{"pid":42,"timings":{"networkMs":1.5,"disksMs":2.5,"rootMs":3.5,"processMs":4.5,"rootSteps":"overlay","processSteps":"spawn"}}"""),
        ["StatsReport"] = Case(new StatsReport(1, 2, 3, 4, 5, 6, 7, 8), InteractionJson.Default.StatsReport,
            """{"cpuNanoseconds":1,"memoryUsedBytes":2,"memoryTotalBytes":3,"networkRxBytes":4,"networkTxBytes":5,"blockReadBytes":6,"blockWriteBytes":7,"processes":8}"""),
        ["StateReport"] = Case(new StateReport([new SessionState(0, 7, null), new SessionState(3, 9, 1)]) { Version = 2 }, InteractionJson.Default.StateReport,
            """{"sessions":[{"session":0,"pid":7,"exitCode":null},{"session":3,"pid":9,"exitCode":1}],"version":2}"""),
        ["ProcessList"] = Case(new ProcessList(1700000000, [new GuestProcess(1, 0, 0, "root", "pts/0", 1.25, 3, "sleep 60") { State = "S", VszKb = 10, RssKb = 5, SessionLeader = true }]) { Uptime = 9.5, MemTotalKb = 262144 }, InteractionJson.Default.ProcessList,
            """{"bootedAt":1700000000,"processes":[{"pid":1,"parentPid":0,"uid":0,"user":"root","tty":"pts/0","startedAt":1.25,"cpuSeconds":3,"command":"sleep 60","state":"S","vszKb":10,"rssKb":5,"sessionLeader":true}],"uptime":9.5,"memTotalKb":262144}"""),
        ["FilesRequest"] = Case(new FilesRequest(FilesRequest.Put, "/etc", NoOverwriteDirNonDir: true) { Owner = "1000:1000", MakeParents = true }, InteractionJson.Default.FilesRequest,
            """{"operation":"put","path":"/etc","noOverwriteDirNonDir":true,"owner":"1000:1000","makeParents":true}"""),
        ["PathStat"] = Case(new PathStat("passwd", 1234, 0x1a4, When, "") { Uid = 1, Gid = 2 }, InteractionJson.Default.PathStat,
            """{"name":"passwd","size":1234,"mode":420,"mtime":"2026-12-04T08:00:00+00:00","linkTarget":"","uid":1,"gid":2}"""),
        ["PeerHostsUpdate"] = Case(new PeerHostsUpdate(["10.1.0.3\tdb"]), InteractionJson.Default.PeerHostsUpdate,
            """{"peerHosts":["10.1.0.3\tdb"]}"""),
        ["PortConnect"] = Case(new PortConnect("udp", 53), InteractionJson.Default.PortConnect,
            """{"protocol":"udp","port":53}"""),
        ["ChangeList"] = Case(new ChangeList([new FileChange("/tmp/x", 1)]), InteractionJson.Default.ChangeList,
            """{"changes":[{"path":"/tmp/x","kind":1}]}"""),
        ["LimitsSpec"] = Case(new LimitsSpec(268435456), InteractionJson.Default.LimitsSpec, """{"memoryBytes":268435456}"""),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void EveryPayloadIsWrittenAndReadExactly(string name)
    {
        var (write, roundTrip, golden) = Cases[name];

        Assert.Equal(golden, write());
        Assert.Equal(golden, roundTrip(golden));
    }

    [Fact]
    public void ASpecFromAnEndpointThatPredatesDevicePermissionsAndRulesAllowsEveryDevice()
    {
        var spec = Payloads.Json(
            Encoding.UTF8.GetBytes(FullSpecGolden.Replace(",\"permissions\":\"rw\"", "", StringComparison.Ordinal).Replace(",\"deviceRules\":[\"c 10:229 rwm\"]", "", StringComparison.Ordinal)),
            InteractionJson.Default.ContainerSpec);

        Assert.Equal("rwm", Assert.Single(spec.Devices).Permissions);
        Assert.Null(spec.Confinement!.DeviceRules);
    }

    [Fact]
    public void EveryPayloadTypeOfTheProtocolHasAGoldenCase()
    {
        var serialized = typeof(InteractionJson).GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(JsonSerializableAttribute))
            .Select(a => ((Type)a.ConstructorArguments[0].Value!).Name);

        Assert.Equal(serialized.Order(StringComparer.Ordinal), Cases.Keys.Order(StringComparer.Ordinal));
    }

    private static (Func<string>, Func<string, string>, string) Case<T>(T value, JsonTypeInfo<T> type, string golden) =>
        (() => Encoding.UTF8.GetString(Payloads.Json(value, type)), json => Encoding.UTF8.GetString(Payloads.Json(Payloads.Json(Encoding.UTF8.GetBytes(json), type), type)), golden);

    private static NetworkSpec FullNetwork() =>
        new("02:00:00:00:00:01", ["172.17.0.2/16"], "10.0.2.15/24", "10.0.2.2", "10.0.2.2") { BridgeIpv6Addresses = ["2001:db8:1::2/64"], Nics = [new NicSpec("02:00:00:00:00:02", "192.168.5.2/24", "192.168.5.1")] };

    private const string FullNetworkGolden =
        """{"bridgeMac":"02:00:00:00:00:01","bridgeAddresses":["172.17.0.2/16"],"publicAddress":"10.0.2.15/24","publicGateway":"10.0.2.2","hostAddress":"10.0.2.2","bridgeIpv6Addresses":["2001:db8:1::2/64"],"nics":[{"mac":"02:00:00:00:00:02","address":"192.168.5.2/24","gateway":"192.168.5.1"}]}""";

    private static ContainerSpec FullSpec() => new()
    {
        Id = "c0ffee",
        Args = ["nginx", "-g", "daemon off;"],
        Env = ["PATH=/usr/bin"],
        WorkingDir = "/srv",
        User = "www-data",
        Hostname = "web",
        Domainname = "example.org",
        Tty = true,
        OpenStdin = true,
        Disks = [new DiskSpec("l0", "layer", 0), new DiskSpec("v0", "volume", 0, "/data", ReadOnly: true)],
        NfsVolumes = [new NfsVolumeSpec("10.0.2.2", 2049, "/export/v", "/nfs", ReadOnly: false)],
        Shares = [new ShareSpec("vic-bind-0", "/etc/app.conf", ReadOnly: true, FileName: "app.conf")],
        ExtraHosts = ["db 10.0.0.5"],
        Dns = ["10.0.2.3"],
        DnsSearch = ["example.org"],
        Tmpfs = [new TmpfsSpec("/run", "size=64m")],
        GroupAdd = ["audio"],
        DnsOptions = ["ndots:2"],
        ReadOnlyRoot = true,
        Privileged = true,
        ShmSizeBytes = 67108864,
        Sysctls = new Dictionary<string, string> { ["net.core.somaxconn"] = "1024" },
        Devices = [new DeviceSpec("/dev/fuse", "/dev/fuse", "rw")],
        Confinement = new ConfinementSpec { Capabilities = ["CAP_CHOWN"], NoNewPrivileges = true, Rlimits = [new RlimitSpec("nofile", 1024, 2048)], OomScoreAdj = 500, CpusetCpus = "0-1", PidsLimit = 100, DeviceRules = ["c 10:229 rwm"] },
        Rows = 40,
        Columns = 120,
        Network = FullNetwork(),
        FilesOnly = true,
        KeepAfterExit = true,
        EntropySeed = "c2VlZA==",
        WallClockUnixMs = 1764835200000,
        PeerHosts = ["10.1.0.3\tdb db.1"],
    };

    private const string FullSpecGolden =
        """{"id":"c0ffee","args":["nginx","-g","daemon off;"],"env":["PATH=/usr/bin"],"workingDir":"/srv","user":"www-data","hostname":"web","domainname":"example.org","tty":true,"openStdin":true,"disks":[{"serial":"l0","role":"layer","index":0,"path":null,"readOnly":false},{"serial":"v0","role":"volume","index":0,"path":"/data","readOnly":true}],"nfsVolumes":[{"server":"10.0.2.2","port":2049,"exportPath":"/export/v","path":"/nfs","readOnly":false}],"shares":[{"tag":"vic-bind-0","path":"/etc/app.conf","readOnly":true,"fileName":"app.conf"}],"extraHosts":["db 10.0.0.5"],"dns":["10.0.2.3"],"dnsSearch":["example.org"],"tmpfs":[{"path":"/run","options":"size=64m"}],"groupAdd":["audio"],"dnsOptions":["ndots:2"],"readOnlyRoot":true,"privileged":true,"shmSizeBytes":67108864,"sysctls":{"net.core.somaxconn":"1024"},"devices":[{"pathOnHost":"/dev/fuse","pathInContainer":"/dev/fuse","permissions":"rw"}],"confinement":{"capabilities":["CAP_CHOWN"],"noNewPrivileges":true,"rlimits":[{"name":"nofile","soft":1024,"hard":2048}],"oomScoreAdj":500,"cpusetCpus":"0-1","pidsLimit":100,"deviceRules":["c 10:229 rwm"]},"rows":40,"columns":120,"network":""" + FullNetworkGolden + ""","filesOnly":true,"keepAfterExit":true,"entropySeed":"c2VlZA==","wallClockUnixMs":1764835200000,"peerHosts":["10.1.0.3\tdb db.1"]}""";
}
