using System.Text.Json;
using Vic.PortLayer.Containers;

namespace Vic.PortLayer.Tests;

public sealed class ContainerHealthTests
{
    private static readonly HealthcheckConfig Check = new() { Test = ["CMD-SHELL", "true"], Retries = 2 };
    private static readonly DateTimeOffset At = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void OnePassMakesItHealthyAndResetsTheStreak()
    {
        var health = new ContainerHealth(ContainerHealth.Unhealthy, 4, []);

        var next = health.With(Result(0), Check, inStartPeriod: false);

        Assert.Equal(new ContainerHealth(ContainerHealth.Healthy, 0, next.Log), next);
    }

    [Fact]
    public void FailuresCountUpToTheRetriesThenItIsUnhealthy()
    {
        var health = new ContainerHealth(ContainerHealth.Healthy, 0, []);

        var once = health.With(Result(1), Check, inStartPeriod: false);
        var twice = once.With(Result(1), Check, inStartPeriod: false);

        Assert.Equal((ContainerHealth.Healthy, 1), (once.Status, once.FailingStreak));
        Assert.Equal((ContainerHealth.Unhealthy, 2), (twice.Status, twice.FailingStreak));
    }

    [Fact]
    public void FailuresInTheStartPeriodDoNotCountWhileStarting()
    {
        var health = new ContainerHealth(ContainerHealth.Starting, 0, []);

        var next = health.With(Result(1), Check, inStartPeriod: true).With(Result(1), Check, inStartPeriod: true);

        Assert.Equal((ContainerHealth.Starting, 0, 2), (next.Status, next.FailingStreak, next.Log.Count));
    }

    [Fact]
    public void TheLogKeepsTheLastFiveResults()
    {
        var health = new ContainerHealth(ContainerHealth.Starting, 0, []);
        for (var i = 0; i < 7; i++)
        {
            health = health.With(Result(0, $"run {i}"), Check, inStartPeriod: false);
        }

        Assert.Equal(["run 2", "run 3", "run 4", "run 5", "run 6"], health.Log.Select(r => r.Output));
    }

    [Fact]
    public void DockerJsonDurationsAreNanosecondsAndTheRequestOverridesTheImageFieldByField()
    {
        using var image = JsonDocument.Parse("""{"Test":["CMD","check"],"Interval":5000000000,"Retries":4}""");
        using var requested = JsonDocument.Parse("""{"Interval":1000000000}""");

        var merged = HealthcheckConfig.Merge(HealthcheckConfig.FromJson(requested.RootElement), HealthcheckConfig.FromJson(image.RootElement))!;

        Assert.Equal(["check"], merged.Command);
        Assert.Equal(TimeSpan.FromSeconds(1), merged.Interval);
        Assert.Equal(4, merged.Retries);
        Assert.Equal(TimeSpan.FromSeconds(30), merged.EffectiveTimeout);
        Assert.Equal(["/bin/sh", "-c", "curl -f localhost"], new HealthcheckConfig { Test = ["CMD-SHELL", "curl -f localhost"] }.Command);
        Assert.True(new HealthcheckConfig { Test = ["NONE"] }.Disabled);
    }

    private static HealthProbeResult Result(int code, string output = "") => new(At, At.AddSeconds(1), code, output);
}
