using System.Text.Json.Nodes;
using Vic.Build.Context;
using Vic.Build.Dockerfile;
using Vic.Build.Steps;

namespace Vic.Build.Tests;

public sealed class StageStateTests
{
    private static StageState Stage(JsonObject? settings = null, Dictionary<string, string?>? args = null) =>
        new(null, "sha256:base", settings ?? new JsonObject { ["Env"] = new JsonArray("PATH=/usr/bin"), ["Cmd"] = new JsonArray("sh") }, args ?? [], '\\');

    private static string? Apply(StageState stage, string line) => stage.ApplyConfig(DockerfileParser.Parse("FROM x\n" + line).Instructions[1]);

    [Fact]
    public void EnvReplacesByNameAndLaterStepsSeeIt()
    {
        var stage = Stage();
        // As in Docker, a line's variables are those from before it: $APP is not set yet on its own line.
        Apply(stage, "ENV APP=/srv PATH=$APP/bin:$PATH");
        Apply(stage, "ENV PATH=$APP/bin:$PATH");
        Apply(stage, "WORKDIR $APP");
        Apply(stage, "WORKDIR sub/../data");

        Assert.Equal(["PATH=/srv/bin:/bin:/usr/bin", "APP=/srv"], stage.Environment.Order(StringComparer.Ordinal).Reverse());
        Assert.Equal("/srv/data", stage.WorkingFolder);
    }

    [Fact]
    public void ArgsAreSeenUntilEnvShadowsThemAndRunsGetThemAsEnvironment()
    {
        var stage = Stage();
        stage.Args["VERSION"] = "2.5";
        stage.Args["UNSET"] = null;
        Apply(stage, "LABEL version=$VERSION");
        var before = stage.ArgEnvironment();
        Apply(stage, "ENV VERSION=env");

        Assert.Equal("2.5", stage.Settings["Labels"]!["version"]!.GetValue<string>());
        Assert.Equal(["VERSION=2.5"], before);
        Assert.Empty(stage.ArgEnvironment());
        Assert.Equal("env", stage.Lookup("VERSION"));
    }

    [Fact]
    public void EntrypointDropsTheInheritedCmdButNotOneThisStageSet()
    {
        var inherited = Stage();
        Apply(inherited, "ENTRYPOINT [\"/app\"]");
        var own = Stage();
        Apply(own, "CMD serve");
        Apply(own, "ENTRYPOINT /app");

        Assert.Null(inherited.Settings["Cmd"]);
        Assert.Equal("[\"/bin/sh\",\"-c\",\"serve\"]", own.Settings["Cmd"]!.ToJsonString());
        Assert.Equal("[\"/bin/sh\",\"-c\",\"/app\"]", own.Settings["Entrypoint"]!.ToJsonString());
    }

    [Fact]
    public void ShellChangesTheShellFormAndExposeExpandsRanges()
    {
        var stage = Stage();
        Apply(stage, "SHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]");
        Apply(stage, "CMD echo hi");
        var history = Apply(stage, "EXPOSE 8000-8002/udp 80");

        Assert.Equal("[\"/bin/bash\",\"-eo\",\"pipefail\",\"-c\",\"echo hi\"]", stage.Settings["Cmd"]!.ToJsonString());
        Assert.Equal(["8000/udp", "8001/udp", "8002/udp", "80/tcp"], stage.Settings["ExposedPorts"]!.AsObject().Select(p => p.Key));
        Assert.Equal("EXPOSE 80/tcp 8000/udp 8001/udp 8002/udp", history);
    }

    [Fact]
    public void HealthcheckTakesItsFlagsAsDurationsAndNoneDisablesIt()
    {
        var stage = Stage();
        Apply(stage, "HEALTHCHECK --interval=1m30s --timeout=500ms --retries=4 CMD curl -f http://localhost/");
        var check = stage.Settings["Healthcheck"]!;
        var none = Stage();
        Apply(none, "HEALTHCHECK NONE");

        Assert.Equal("[\"CMD-SHELL\",\"curl -f http://localhost/\"]", check["Test"]!.ToJsonString());
        Assert.Equal(90_000_000_000L, check["Interval"]!.GetValue<long>());
        Assert.Equal(500_000_000L, check["Timeout"]!.GetValue<long>());
        Assert.Equal(4, check["Retries"]!.GetValue<int>());
        Assert.Equal("[\"NONE\"]", none.Settings["Healthcheck"]!["Test"]!.ToJsonString());
        Assert.Throws<BuildException>(() => Apply(Stage(), "HEALTHCHECK --interval=soon CMD true"));
    }

    [Fact]
    public void OnbuildStoresTriggersAndRefusesChainsAndFrom()
    {
        var stage = Stage();
        Apply(stage, "ONBUILD copy . /app");

        Assert.Equal("[\"COPY . /app\"]", stage.Settings["OnBuild"]!.ToJsonString());
        Assert.Throws<BuildException>(() => Apply(Stage(), "ONBUILD ONBUILD RUN x"));
        Assert.Throws<BuildException>(() => Apply(Stage(), "ONBUILD FROM busybox"));
        Assert.Null(Apply(Stage(), "RUN true"));
        Assert.Equal("Unknown flag: serve", Assert.Throws<BuildException>(() => Apply(Stage(), "CMD --serve")).Message);
    }
}
