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
