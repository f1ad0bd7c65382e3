namespace Vic.Tether;

/// <summary>
/// How the tether runs. In a ContainerVM everything comes from the kernel command line; on a host
/// (tests) <c>--root</c> names a prepared root and the tether neither mounts nor powers off; with
/// <c>--exit-with-main</c> it ends when the main process does, as a guest that powers off.
/// </summary>
internal sealed record TetherOptions(string Channel, string? HostRoot, string VicExec, bool Debug, bool ExitWithMain = false)
{
    public bool InVm => HostRoot is null;

    public static TetherOptions Parse(string[] args)
    {
        var cmdline = File.Exists("/proc/cmdline") ? File.ReadAllText("/proc/cmdline").Trim() : "";
        var kernel = cmdline.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal);
        string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

        var root = Option("--root");
        var channel = Option("--channel") ?? (root is null ? kernel.GetValueOrDefault("vic.channel") : null)
            ?? throw new ArgumentException("no channel: pass --channel or vic.channel= on the kernel command line");
        return new TetherOptions(
            channel,
            root,
            Option("--vic-exec") ?? "/sbin/vic-exec",
            kernel.ContainsKey("vic.debug") || args.Contains("--debug"),
            args.Contains("--exit-with-main"));
    }
}
