using System.Text.Json;
using Vic.Api.ContainersApi;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.Api.Tests;

public sealed class CreateRequestTests
{
    [Theory]
    [InlineData("""{"NanoCpus":1500000000}""", 2)]
    [InlineData("""{"CpuQuota":250000,"CpuPeriod":100000}""", 3)]
    [InlineData("""{"CpuShares":512}""", 1)]
    [InlineData("""{"CpuShares":2048}""", 2)]
    [InlineData("""{}""", 0)]
    public void CpuSettingsBecomeWholeVCpus(string host, int cpus)
    {
        using var json = JsonDocument.Parse(host);

        Assert.Equal(cpus, CreateRequest.CpusOf(json.RootElement));
    }

    [Fact]
    public void MemoryBelowDockersFloorIsRefused()
    {
        using var json = JsonDocument.Parse("""{"Memory":1048576}""");

        var error = Assert.Throws<PortLayerException>(() => CreateRequest.MemoryOf(json.RootElement));

        Assert.Equal("Minimum memory limit allowed is 6MB", error.Message);
    }

    [Theory]
    [InlineData("""{"Name":"on-failure","MaximumRetryCount":3}""", "on-failure", 3)]
    [InlineData("""{"Name":"unless-stopped"}""", "unless-stopped", 0)]
    [InlineData("""{}""", "no", 0)]
    public void RestartPoliciesAreRead(string restart, string name, int retries)
    {
        using var json = JsonDocument.Parse(restart);

        Assert.Equal(new RestartPolicy(name, retries), CreateRequest.RestartPolicyOf(json.RootElement));
    }

    [Theory]
    [InlineData("""{"Name":"always","MaximumRetryCount":2}""", "maximum retry count can only be used with 'on-failure'")]
    [InlineData("""{"Name":"sometimes"}""", "unknown policy 'sometimes'")]
    public void BadRestartPoliciesAreRefused(string restart, string text)
    {
        using var json = JsonDocument.Parse(restart);

        var error = Assert.Throws<PortLayerException>(() => CreateRequest.RestartPolicyOf(json.RootElement));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.Contains(text, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AutoRemoveWithARestartPolicyIsRefused()
    {
        using var json = JsonDocument.Parse("""{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}""");

        var error = Assert.Throws<PortLayerException>(() => CreateRequest.Parse(json.RootElement));

        Assert.Equal("can't create 'AutoRemove' container with restart policy", error.Message);
    }

    [Fact]
    public void NetworkSettingsOfTheCliBecomeBindingsEndpointsAndLinks()
    {
        using var json = JsonDocument.Parse("""
            {"Image":"busybox","ExposedPorts":{"81/tcp":{},"53/udp":{}},
             "HostConfig":{"NetworkMode":"front","PublishAllPorts":true,"Links":["/db:/web/database"],
               "PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"9000-9001/tcp":[{"HostIp":"","HostPort":"19000-19001"}],"7/udp":null}},
             "NetworkingConfig":{"EndpointsConfig":{"front":{"IPAMConfig":{"IPv4Address":"10.0.0.5"},"Aliases":["www"]}}}}
            """);

        var (_, _, config) = CreateRequest.Parse(json.RootElement);

        Assert.Equal("front", config.NetworkMode);
        Assert.True(config.PublishAllPorts);
        Assert.Equal(["81/tcp", "53/udp"], config.ExposedPorts);
        Assert.Equal(
            [new("80/tcp", "127.0.0.1", "8080"), new("9000-9001/tcp", "", "19000-19001"), new Vic.PortLayer.Networks.PortBinding("7/udp", "", "")],
            config.PortBindings);
        Assert.Equal(["db:database"], config.Links);
        Assert.Equal("10.0.0.5", config.EndpointRequests["front"].Ipv4Address);
        Assert.Equal(["www"], config.EndpointRequests["front"].Aliases!);
    }

    [Theory]
    [InlineData("""{"PortBindings":{"80/sctp":[]}}""", "invalid proto: sctp")]
    [InlineData("""{"PortBindings":{"80/tcp":[{"HostPort":"70000"}]}}""", "invalid port specification: \"70000\"")]
    [InlineData("""{"PortBindings":{"80/tcp":[{"HostIp":"localhost","HostPort":"80"}]}}""", "invalid IP address: localhost")]
    public void BadPortBindingsAreRefused(string host, string message)
    {
        using var json = JsonDocument.Parse(host);

        Assert.Equal(message, Assert.Throws<PortLayerException>(() => CreateRequest.PortBindingsOf(json.RootElement)).Message);
    }

    [Fact]
    public void HostPathsInBindsAndBindMountsBecomeHostBindsNotVolumes()
    {
        using var json = JsonDocument.Parse("""
            {"Image":"busybox","Volumes":{"/data":{},"/anon":{}},
             "HostConfig":{"Binds":["/srv/data:/data:ro,z","named:/named","/etc/app.conf:/etc/app.conf"],
               "Mounts":[{"Type":"bind","Source":"/srv/logs/","Target":"/logs","ReadOnly":true},{"Type":"volume","Source":"v","Target":"/v"}]}}
            """);

        var (_, _, config) = CreateRequest.Parse(json.RootElement);

        Assert.Equal(
            [new HostBind("/srv/data", "/data", ReadOnly: true), new HostBind("/etc/app.conf", "/etc/app.conf"), new HostBind("/srv/logs", "/logs", ReadOnly: true, CreateSource: false)],
            config.Binds);
        Assert.Equal(["named:/named", "v:/v", ":/anon"], config.Mounts.Select(m => $"{m.Name}:{m.Target}"));
    }

    [Theory]
    [InlineData("""{"Binds":["/a:/b:bogus"]}""", "invalid mode: bogus")]
    [InlineData("""{"Binds":["/a/../etc:/b"]}""", "invalid mount config for type \"bind\": invalid mount path: '/a/../etc' mount path must be absolute")]
    [InlineData("""{"Binds":["/a:relative"]}""", "invalid mount config: the mount point must be an absolute path, not \"relative\"")]
    [InlineData("""{"Mounts":[{"Type":"bind","Source":"","Target":"/m"}]}""", "invalid mount config for type \"bind\": field Source must not be empty")]
    [InlineData("""{"Mounts":[{"Type":"bind","Source":"rel","Target":"/m"}]}""", "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute")]
    public void BadHostBindsAreRefused(string host, string message)
    {
        using var json = JsonDocument.Parse(host);

        Assert.Equal(message, Assert.Throws<PortLayerException>(() => CreateRequest.BindsOf(json.RootElement)).Message);
    }
}

/// <summary>No field of the create body is dropped without a word: wrong JSON types and options the VCH cannot honour are 400s naming them.</summary>
public sealed class CreateFieldAuditTests
{
    /// <summary>What docker CLI 28 sends for a plain <c>docker run busybox</c>: every option at its unset value.</summary>
    private const string PlainRun = """
        {"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,
         "Env":null,"Cmd":["true"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},
         "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"bridge","PortBindings":{},
           "RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],
           "CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"",
           "Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,
           "UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,
           "BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,
           "CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,
           "DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":[],
           "CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},
         "NetworkingConfig":{"EndpointsConfig":{}}}
        """;

    [Fact]
    public void APlainRunWithEveryOptionUnsetPasses()
    {
        using var json = JsonDocument.Parse(PlainRun);

        var (image, _, config) = CreateRequest.Parse(json.RootElement);

        Assert.Equal("busybox", image);
        Assert.Equal(["true"], config.Cmd);
    }

    [Fact]
    public void TmpfsAndGroupAddAreHonoured()
    {
        using var json = JsonDocument.Parse("""{"Image":"busybox","HostConfig":{"Tmpfs":{"/run/":"size=1m,mode=1777","/cache":""},"GroupAdd":["audio","123"]}}""");

        var (_, _, config) = CreateRequest.Parse(json.RootElement);

        Assert.Equal(new Dictionary<string, string> { ["/run"] = "size=1m,mode=1777", ["/cache"] = "" }, config.Tmpfs);
        Assert.Equal(["audio", "123"], config.GroupAdd);
    }

    [Fact]
    public void SecurityAndLimitOptionsBecomeTheConfinementTheGuestApplies()
    {
        using var json = JsonDocument.Parse("""
            {"Image":"busybox","HostConfig":{"CapAdd":["net_admin"],"CapDrop":["CAP_CHOWN","mknod"],"ReadonlyRootfs":true,
             "SecurityOpt":["no-new-privileges:true","seccomp=unconfined"],"Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],
             "ShmSize":1048576,"Sysctls":{"net.ipv4.ip_forward":"1"},"PidsLimit":50,"OomScoreAdj":-500,"CpusetCpus":"0-1,3",
             "Devices":[{"PathOnHost":"/dev/fuse","PathInContainer":"","CgroupPermissions":""}],"DnsOptions":["ndots:2"],"VolumesFrom":["data:ro"],
             "Mounts":[{"Type":"tmpfs","Target":"/run","ReadOnly":true,"TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}]}}
            """);

        var (_, _, config) = CreateRequest.Parse(json.RootElement);
        var confinement = config.Confinement;
        var spec = confinement.ToSpec();

        Assert.Equal(["CAP_NET_ADMIN"], confinement.CapAdd);
        Assert.Equal(["CAP_CHOWN", "CAP_MKNOD"], confinement.CapDrop);
        Assert.DoesNotContain("CAP_CHOWN", spec.Capabilities!);
        Assert.DoesNotContain("CAP_MKNOD", spec.Capabilities!);
        Assert.Contains("CAP_NET_ADMIN", spec.Capabilities!);
        Assert.Contains("CAP_KILL", spec.Capabilities!);
        Assert.True(confinement.ReadOnlyRoot);
        Assert.True(spec.NoNewPrivileges);
        Assert.Equal([new Vic.Interaction.RlimitSpec("nofile", 100, 200)], spec.Rlimits);
        Assert.Equal((1048576L, 50L, -500, "0-1,3", 4), (confinement.ShmSizeBytes, spec.PidsLimit, spec.OomScoreAdj, spec.CpusetCpus, confinement.CpusNeeded));
        Assert.Equal([new DeviceMapping("/dev/fuse", "/dev/fuse", "rwm")], confinement.Devices);
        Assert.Equal(["ndots:2"], config.DnsOptions);
        Assert.Equal(["data:ro"], config.VolumesFrom);
        Assert.Equal("ro,size=1048576,mode=700", config.Tmpfs["/run"]);
    }

    [Fact]
    public void OptionsAVmMakesMootAreTakenWithAWarningNamingThem()
    {
        using var json = JsonDocument.Parse("""{"Image":"busybox","HostConfig":{"MemorySwap":-1,"MemorySwappiness":-1,"OomKillDisable":true,"BlkioWeight":300,"PidMode":"host","UsernsMode":"host"}}""");
        var warnings = new List<string>();

        CreateRequest.Parse(json.RootElement, warnings);

        Assert.Equal(4, warnings.Count);
        Assert.StartsWith("--memory-swap discarded", warnings[0], StringComparison.Ordinal);
        Assert.StartsWith("--oom-kill-disable discarded", warnings[1], StringComparison.Ordinal);
        Assert.StartsWith("--blkio-weight discarded", warnings[2], StringComparison.Ordinal);
        Assert.StartsWith("--pid host: the ContainerVM is the container's host", warnings[3], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"Image":"busybox","MacAddress":"02:42:AC:11:00:99"}""", "02:42:ac:11:00:99")]
    [InlineData("""{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"default":{"MacAddress":"02:42:ac:11:00:98"}}}}""", "02:42:ac:11:00:98")]
    [InlineData("""{"Image":"busybox"}""", null)]
    public void TheMacAddressComesFromTheConfigOrAnEndpoint(string body, string? mac)
    {
        using var json = JsonDocument.Parse(body);

        Assert.Equal(mac, CreateRequest.Parse(json.RootElement).Config.MacAddress);
    }

    [Theory]
    [InlineData("""{"Image":"busybox","MacAddress":"02:42:ac:11:00"}""", "invalid MAC address: 02:42:ac:11:00 (--mac-address)")]
    [InlineData("""{"Image":"busybox","MacAddress":"03:42:ac:11:00:99"}""", "invalid MAC address: 03:42:ac:11:00:99 is a multicast address (--mac-address)")]
    [InlineData("""{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"a":{"MacAddress":"02:42:ac:11:00:01"},"b":{"MacAddress":"02:42:ac:11:00:02"}}}}""", "a ContainerVM has one bridge NIC: one MAC address (--mac-address) for all its networks, not 02:42:ac:11:00:01 and 02:42:ac:11:00:02")]
    public void ABadOrSecondMacAddressIsRefused(string body, string message)
    {
        using var json = JsonDocument.Parse(body);

        var error = Assert.Throws<Vic.PortLayer.Errors.PortLayerException>(() => CreateRequest.Parse(json.RootElement));
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("Tmpfs", """{"run":""}""", "invalid mount config for type \"tmpfs\": invalid mount path 'run' mount path must be absolute (--tmpfs)")]
    [InlineData("Tmpfs", """{"/":""}""", "invalid mount config for type \"tmpfs\": invalid mount path '/' mount path must be absolute (--tmpfs)")]
    [InlineData("Tmpfs", """{"/run":7}""", "json: cannot unmarshal number into Go struct field HostConfig.Tmpfs of type map[string]string")]
    [InlineData("LogConfig", """{"Type":"journald","Config":{}}""", "the log driver \"journald\" (--log-driver) is not supported by this VCH: it keeps logs as json-file or local, sends them to syslog, or keeps none (none)")]
    [InlineData("LogConfig", """{"Type":"syslog","Config":{"syslog-address":"logs:514"}}""", "syslog-address should be in form proto://address, got logs:514 (--log-opt)")]
    [InlineData("LogConfig", """{"Type":"syslog","Config":{"syslog-facility":"local9"}}""", "invalid syslog facility local9 (--log-opt syslog-facility: kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0-local7, or 0-23)")]
    [InlineData("LogConfig", """{"Type":"syslog","Config":{"syslog-format":"json"}}""", "Invalid syslog format: json (--log-opt syslog-format: rfc3164, rfc5424 or rfc5424micro)")]
    [InlineData("LogConfig", """{"Type":"syslog","Config":{"tag":"{{.Labels}}"}}""", "invalid tag '{{.Labels}}': a template of {{.ID}}, {{.FullID}}, {{.Name}}, {{.ImageID}}, {{.ImageFullID}}, {{.ImageName}}, {{.DaemonName}} and text (--log-opt tag)")]
    [InlineData("LogConfig", """{"Type":"syslog","Config":{"max-size":"1m"}}""", "unknown log opt 'max-size' for syslog log driver (--log-opt)")]
    [InlineData("LogConfig", """{"Type":"json-file","Config":{"labels":"a"}}""", "unknown log opt 'labels' for json-file log driver (--log-opt)")]
    [InlineData("LogConfig", """{"Type":"asdf","Config":{}}""", "logger: no log driver named 'asdf' is registered")]
    [InlineData("LogConfig", """{"Type":"json-file","Config":{"max-size":"lots"}}""", "invalid max-size lots: a positive size such as 10m (--log-opt)")]
    [InlineData("LogConfig", """{"Type":"none","Config":{"max-size":"1m"}}""", "unknown log opt 'max-size' for none log driver (--log-opt)")]
    [InlineData("CapDrop", """["NOSUCH"]""", "invalid CapDrop: unknown capability: \"NOSUCH\"")]
    [InlineData("CapAdd", """["CAP_FLY"]""", "invalid CapAdd: unknown capability: \"CAP_FLY\"")]
    [InlineData("Ulimits", """[{"Name":"nofiles","Soft":10,"Hard":10}]""", "invalid ulimit type: nofiles (--ulimit)")]
    [InlineData("Ulimits", """[{"Name":"nofile","Soft":20,"Hard":10}]""", "ulimit soft limit must be less than or equal to hard limit: 20 > 10 (--ulimit nofile)")]
    [InlineData("ShmSize", "-1", "SHM size can not be less than 0 (--shm-size)")]
    [InlineData("Sysctls", """{"net/ipv4":"1"}""", "sysctl 'net/ipv4' is not a kernel parameter's name (--sysctl)")]
    [InlineData("Devices", """[{"PathOnHost":"/dev/null","PathInContainer":"/dev/x","CgroupPermissions":"rx"}]""", "invalid device mode: rx (--device)")]
    [InlineData("SecurityOpt", """["seccomp={}"]""", "--security-opt seccomp={} is not supported by this VCH")]
    [InlineData("SecurityOpt", """["apparmor=docker-default"]""", "--security-opt apparmor=docker-default is not supported by this VCH")]
    [InlineData("SecurityOpt", """["bogus"]""", "Invalid --security-opt: \"bogus\"")]
    [InlineData("PidMode", "\"container:db\"", "HostConfig.PidMode \"container:db\" (--pid) is not supported by this VCH")]
    [InlineData("IpcMode", "\"container:db\"", "HostConfig.IpcMode \"container:db\" (--ipc) is not supported by this VCH")]
    [InlineData("OomScoreAdj", "1001", "Invalid value 1001, range for oom score adj is [-1000, 1000]")]
    [InlineData("CpusetCpus", "\"0-a\"", "Invalid value 0-a for cpuset cpus")]
    [InlineData("CpusetMems", "\"1\"", "Requested memory nodes are not available - requested 1, available: 0")]
    [InlineData("Mounts", """[{"Type":"tmpfs","Target":"/run","TmpfsOptions":{"Options":[["noexec"]]}}]""", "HostConfig.Mounts.TmpfsOptions.Options (--mount type=tmpfs) is not supported by this VCH")]
    [InlineData("Mounts", """[{"Type":"npipe","Target":"/run"}]""", "mount type \"npipe\" (--mount type=npipe) is not supported by this VCH")]
    [InlineData("Memory", "\"lots\"", "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64")]
    [InlineData("Dns", "\"8.8.8.8\"", "json: cannot unmarshal string into Go struct field HostConfig.Dns of type []string")]
    public void AnOptionTheVchCannotHonourOrOfTheWrongTypeIsRefusedByName(string field, string value, string message)
    {
        using var json = JsonDocument.Parse("{\"Image\":\"busybox\",\"HostConfig\":{\"" + field + "\":" + value + "}}");

        var error = Assert.Throws<PortLayerException>(() => CreateRequest.Parse(json.RootElement));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"Image":"busybox","Labels":{"a":1}}""", "json: cannot unmarshal number into Go struct field Config.Labels of type map[string]string")]
    [InlineData("""{"Image":"busybox","Env":{"a":"b"}}""", "json: cannot unmarshal object into Go struct field Config.Env of type []string")]
    [InlineData("""{"Image":"busybox","Tty":"yes"}""", "json: cannot unmarshal string into Go struct field Config.Tty of type bool")]
    [InlineData("""{"Image":"busybox","HostConfig":{"ExtraHosts":["a:1.2.3"]}}""", "invalid IP address in add-host: \"1.2.3\"")]
    public void AConfigFieldOfTheWrongTypeIsA400(string body, string message)
    {
        using var json = JsonDocument.Parse(body);

        var error = Assert.Throws<PortLayerException>(() => CreateRequest.Parse(json.RootElement));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("a:1.2.3.4", "10.0.2.2", "1.2.3.4\ta")]
    [InlineData("v6:::1", "10.0.2.2", "::1\tv6")]
    [InlineData("gw:host-gateway", "10.0.2.2", "10.0.2.2\tgw")]
    [InlineData("eq=5.6.7.8", null, "5.6.7.8\teq")]
    public void AddHostBecomesAnEtcHostsLineWithTheAddressFirst(string entry, string? gateway, string line)
    {
        Assert.Equal(line, ExtraHost.HostsLine(entry, gateway));
    }
}
