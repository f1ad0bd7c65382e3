using System.Text.Json;

namespace Vic.PortLayer.Containers;

/// <summary>
/// A healthcheck as Docker defines it (--health-cmd or the image's HEALTHCHECK). <see cref="Test"/>
/// is <c>["CMD", args...]</c>, <c>["CMD-SHELL", command]</c> or <c>["NONE"]</c>; zero durations
/// mean Docker's defaults.
/// </summary>
public sealed record HealthcheckConfig
{
    public IReadOnlyList<string> Test { get; init; } = [];

    public TimeSpan Interval { get; init; }

    public TimeSpan Timeout { get; init; }

    public TimeSpan StartPeriod { get; init; }

    public int Retries { get; init; }

    public bool Disabled => Test.Count == 0 || Test[0] == "NONE";

    public TimeSpan EffectiveInterval => Interval > TimeSpan.Zero ? Interval : TimeSpan.FromSeconds(30);

    public TimeSpan EffectiveTimeout => Timeout > TimeSpan.Zero ? Timeout : TimeSpan.FromSeconds(30);

    public int EffectiveRetries => Retries > 0 ? Retries : 3;

    /// <summary>The process a probe runs.</summary>
    public IReadOnlyList<string> Command => Test switch
    {
        ["CMD-SHELL", var shell, ..] => ["/bin/sh", "-c", shell],
        ["CMD", ..] => [.. Test.Skip(1)],
        _ => [],
    };

    /// <summary>Reads Docker's JSON shape (durations in nanoseconds), as both create requests and image configs carry it.</summary>
    public static HealthcheckConfig? FromJson(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        TimeSpan Duration(string name) =>
            element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? TimeSpan.FromTicks(v.GetInt64() / 100) : TimeSpan.Zero;
        return new HealthcheckConfig
        {
            Test = element.TryGetProperty(nameof(Test), out var test) && test.ValueKind == JsonValueKind.Array ? [.. test.EnumerateArray().Select(t => t.GetString() ?? "")] : [],
            Interval = Duration("Interval"),
            Timeout = Duration("Timeout"),
            StartPeriod = Duration("StartPeriod"),
            Retries = element.TryGetProperty(nameof(Retries), out var r) && r.ValueKind == JsonValueKind.Number ? r.GetInt32() : 0,
        };
    }

    /// <summary>What the container asked for over the image's: a field left out keeps the image's value.</summary>
    public static HealthcheckConfig? Merge(HealthcheckConfig? requested, HealthcheckConfig? image) =>
        (requested, image) switch
        {
            (null, _) => image,
            (_, null) => requested,
            _ => new HealthcheckConfig
            {
                Test = requested.Test.Count > 0 ? requested.Test : image.Test,
                Interval = requested.Interval > TimeSpan.Zero ? requested.Interval : image.Interval,
                Timeout = requested.Timeout > TimeSpan.Zero ? requested.Timeout : image.Timeout,
                StartPeriod = requested.StartPeriod > TimeSpan.Zero ? requested.StartPeriod : image.StartPeriod,
                Retries = requested.Retries > 0 ? requested.Retries : image.Retries,
            },
        };

    public bool Equals(HealthcheckConfig? other) =>
        other is not null && Test.SequenceEqual(other.Test) && (Interval, Timeout, StartPeriod, Retries) == (other.Interval, other.Timeout, other.StartPeriod, other.Retries);

    public override int GetHashCode() => HashCode.Combine(string.Join('\0', Test), Interval, Retries);
}

/// <summary>One probe's outcome, as <c>State.Health.Log</c> shows it.</summary>
public sealed record HealthProbeResult(DateTimeOffset Start, DateTimeOffset End, int ExitCode, string Output);

/// <summary>A container's health: starting until a probe decides, then healthy or unhealthy.</summary>
public sealed record ContainerHealth(string Status, int FailingStreak, IReadOnlyList<HealthProbeResult> Log)
{
    public const string Starting = "starting";
    public const string Healthy = "healthy";
    public const string Unhealthy = "unhealthy";

    /// <summary>Docker keeps the last five results.</summary>
    public ContainerHealth With(HealthProbeResult result, HealthcheckConfig check, bool inStartPeriod)
    {
        var log = Log.Append(result).TakeLast(5).ToList();
        if (result.ExitCode == 0)
        {
            return new ContainerHealth(Healthy, 0, log);
        }

        // Failures during the start period do not count, unless the container was healthy already.
        if (inStartPeriod && Status == Starting)
        {
            return this with { Log = log };
        }

        var streak = FailingStreak + 1;
        return new ContainerHealth(streak >= check.EffectiveRetries ? Unhealthy : Status, streak, log);
    }
}
