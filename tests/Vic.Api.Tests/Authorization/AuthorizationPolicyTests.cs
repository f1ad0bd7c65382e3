using Vic.Api.Authorization;

namespace Vic.Api.Tests.Authorization;

public sealed class AuthorizationPolicyTests
{
    private const string Policy = """
        users:
          ops: { may: [all] }
          auditor:
            may: [read]
          web:
            may: [read, run, exec, remove, pull]
            images: [busybox, "127.0.0.1:5000/web/*"]
            labels: { team: web }
        default: { may: [read] }
        """;

    [Theory]
    [InlineData("GET", "/containers/json", AccessRight.Read, "/containers/json", CallTarget.None, null)]
    [InlineData("HEAD", "/_ping", AccessRight.Read, "/_ping", CallTarget.None, null)]
    [InlineData("POST", "/containers/create", AccessRight.Run, "/containers/create", CallTarget.None, null)]
    [InlineData("POST", "/containers/web1/start", AccessRight.Run, "/containers/{id}/start", CallTarget.Container, "web1")]
    [InlineData("POST", "/containers/web1/attach", AccessRight.Run, "/containers/{id}/attach", CallTarget.Container, "web1")]
    [InlineData("POST", "/containers/web1/wait", AccessRight.Read, "/containers/{id}/wait", CallTarget.Container, "web1")]
    [InlineData("POST", "/containers/web1/exec", AccessRight.Exec, "/containers/{id}/exec", CallTarget.Container, "web1")]
    [InlineData("POST", "/exec/abc/start", AccessRight.Exec, "/exec/{id}/start", CallTarget.Exec, "abc")]
    [InlineData("PUT", "/containers/web1/archive", AccessRight.Run, "/containers/{id}/archive", CallTarget.Container, "web1")]
    [InlineData("DELETE", "/containers/web1", AccessRight.Remove, "/containers/{id}", CallTarget.Container, "web1")]
    [InlineData("POST", "/containers/prune", AccessRight.Remove, "/containers/prune", CallTarget.None, null)]
    [InlineData("POST", "/images/create", AccessRight.Pull, "/images/create", CallTarget.None, null)]
    [InlineData("POST", "/images/127.0.0.1:5000/web/app/push", AccessRight.Push, "/images/{name}/push", CallTarget.Image, "127.0.0.1:5000/web/app")]
    [InlineData("POST", "/images/busybox/tag", AccessRight.Pull, "/images/{name}/tag", CallTarget.Image, "busybox")]
    [InlineData("DELETE", "/images/busybox:latest", AccessRight.Remove, "/images/{name}", CallTarget.Image, "busybox:latest")]
    [InlineData("POST", "/build", AccessRight.Build, "/build", CallTarget.None, null)]
    [InlineData("POST", "/commit", AccessRight.Build, "/commit", CallTarget.None, null)]
    [InlineData("POST", "/volumes/create", AccessRight.Manage, "/volumes/create", CallTarget.None, null)]
    [InlineData("DELETE", "/volumes/data", AccessRight.Remove, "/volumes/{name}", CallTarget.Volume, "data")]
    [InlineData("POST", "/networks/front/connect", AccessRight.Manage, "/networks/{id}/connect", CallTarget.Network, "front")]
    [InlineData("POST", "/swarm/leave", AccessRight.Manage, "/swarm/leave", CallTarget.None, null)]
    [InlineData("post", "/CONTAINERS/Create/", AccessRight.Run, "/containers/create", CallTarget.None, null)]
    [InlineData("Delete", "/Containers/web1", AccessRight.Remove, "/containers/{id}", CallTarget.Container, "web1")]
    [InlineData("POST", "/EXEC/abc/START", AccessRight.Exec, "/exec/{id}/START", CallTarget.Exec, "abc")]
    public void EveryCallNeedsOneRight(string method, string path, AccessRight right, string route, CallTarget kind, string? target)
    {
        var call = ApiCallClassifier.Classify(method, path);
        Assert.Equal(right, call.Right);
        Assert.Equal(route, call.Route);
        Assert.Equal(kind, call.TargetKind);
        Assert.Equal(target, call.Target);
    }

    [Fact]
    public void ThePolicyFileGivesEachUserItsGrantAndEveryoneElseTheDefault()
    {
        var policy = PolicyFile.Parse(Policy, "policy.yaml");

        Assert.Equal(Enum.GetValues<AccessRight>().ToHashSet(), policy.GrantOf("ops").Rights);
        Assert.Equal([AccessRight.Read], policy.GrantOf("auditor").Rights);
        Assert.Equal([AccessRight.Read], policy.GrantOf("stranger").Rights);
        var web = policy.GrantOf("web");
        Assert.True(web.ImageAllowed("busybox"));
        Assert.True(web.ImageAllowed("busybox:1.36"));
        Assert.True(web.ImageAllowed("docker.io/library/busybox@sha256:" + new string('a', 64)));
        Assert.True(web.ImageAllowed("127.0.0.1:5000/web/app:v2"));
        Assert.True(web.ImageAllowed("127.0.0.1:5000/web/team/app"));
        Assert.False(web.ImageAllowed("debian"));
        Assert.False(web.ImageAllowed("127.0.0.1:5000/webby/app"));
        Assert.False(web.ImageAllowed("evil/busybox"));
        Assert.True(web.LabelsAllowed(new Dictionary<string, string> { ["team"] = "web", ["x"] = "y" }));
        Assert.False(web.LabelsAllowed(new Dictionary<string, string> { ["team"] = "db" }));
        Assert.False(web.LabelsAllowed(null));
    }

    [Theory]
    [InlineData("users:\n  bob: { may: [reed] }\n", "line 2: unknown right 'reed'")]
    [InlineData("users:\n  bob: { may: [Read] }\n", "line 2: unknown right 'Read'")]
    [InlineData("users:\n  bob: { mays: [read] }\n", "line 2: unknown key 'mays'")]
    [InlineData("userz: {}\n", "line 1: unknown key 'userz'")]
    [InlineData("users:\n  bob: { may: read }\n", "line 2: may: expected a list")]
    [InlineData("users:\n  bob: { may: [read], images: [\"UPPER/Case\"] }\n", "'UPPER/Case' is not an image repository")]
    [InlineData("- just a list\n", "expected a mapping")]
    [InlineData("users: {bob: [unclosed\n", "line")]
    public void AMistakeInThePolicyIsRefusedWithItsLineNotWidenedIntoAGrant(string yaml, string expected)
    {
        var error = Assert.Throws<FormatException>(() => PolicyFile.Parse(yaml, "policy.yaml"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("policy.yaml:", error.Message, StringComparison.Ordinal);
    }
}
