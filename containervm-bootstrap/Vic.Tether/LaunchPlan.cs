using System.Globalization;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>How to start one container process through vic-exec: where, as whom, with what, held to what.</summary>
internal sealed record LaunchPlan(
    IReadOnlyList<string> Args,
    IReadOnlyList<string> Env,
    string? Root,
    string WorkingDir,
    UserIdentity User,
    bool Tty,
    bool OpenStdin,
    int Rows,
    int Columns)
{
    /// <summary>What the process is held to; null for nothing (a tether run on a host, in tests).</summary>
    public ConfinementSpec? Confinement { get; init; }

    /// <summary>The cgroups the process joins: the v2 one with the pids and memory limits, the v1 devices one.</summary>
    public IReadOnlyList<string> Cgroups { get; init; } = [];

    /// <summary>The arguments of vic-exec for this plan; <paramref name="ttyPath"/> when a TTY was opened.</summary>
    public IEnumerable<string> VicExecArguments(string? ttyPath)
    {
        if (Root is not null)
        {
            yield return "--root";
            yield return Root;
        }

        if (WorkingDir.Length > 0)
        {
            yield return "--workdir";
            yield return WorkingDir;
        }

        yield return "--uid";
        yield return User.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        yield return "--gid";
        yield return User.Gid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (User.Groups.Count > 0)
        {
            yield return "--groups";
            yield return string.Join(',', User.Groups);
        }

        if (ttyPath is not null)
        {
            yield return "--tty";
            yield return ttyPath;
        }

        foreach (var argument in ConfinementArguments())
        {
            yield return argument;
        }

        yield return "--";
        foreach (var arg in Args)
        {
            yield return arg;
        }
    }

    private IEnumerable<string> ConfinementArguments()
    {
        foreach (var cgroup in Cgroups)
        {
            yield return "--cgroup";
            yield return cgroup;
        }

        if (Confinement is not { } confinement)
        {
            yield break;
        }

        if (confinement.OomScoreAdj != 0)
        {
            yield return "--oom-score-adj";
            yield return confinement.OomScoreAdj.ToString(CultureInfo.InvariantCulture);
        }

        if (confinement.CpusetCpus.Length > 0)
        {
            yield return "--cpus";
            yield return confinement.CpusetCpus;
        }

        foreach (var limit in confinement.Rlimits)
        {
            yield return "--rlimit";
            yield return string.Create(CultureInfo.InvariantCulture, $"{limit.Name}={limit.Soft}:{limit.Hard}");
        }

        if (confinement.Capabilities is { } kept)
        {
            yield return "--caps";
            yield return string.Join(',', kept.Select(LinuxCapabilities.NumberOf).Where(n => n >= 0));
        }

        if (confinement.NoNewPrivileges)
        {
            yield return "--no-new-privs";
        }
    }
}

/// <summary>A resolved user: numeric ids, supplementary groups and home directory.</summary>
internal sealed record UserIdentity(int Uid, int Gid, IReadOnlyList<int> Groups, string Home)
{
    public static readonly UserIdentity Root = new(0, 0, [], "/root");
}
