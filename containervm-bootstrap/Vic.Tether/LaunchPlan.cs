namespace Vic.Tether;

/// <summary>How to start one container process through vic-exec: where, as whom, with what.</summary>
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

        yield return "--";
        foreach (var arg in Args)
        {
            yield return arg;
        }
    }
}

/// <summary>A resolved user: numeric ids, supplementary groups and home directory.</summary>
internal sealed record UserIdentity(int Uid, int Gid, IReadOnlyList<int> Groups, string Home)
{
    public static readonly UserIdentity Root = new(0, 0, [], "/root");
}
