using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// What a template does before it is saved: the path every start takes, once, without disks. Under
/// emulation each clone translates afresh every guest instruction it runs; what the template ran
/// already (the runtime's first-time initialisations, the JSON metadata of the spec, the kernel's
/// first overlay and tmpfs mounts and its caches) each clone no longer runs at all.
/// </summary>
internal static class TemplateRehearsal
{
    public const uint Session = Frame.RehearsalSession;

    /// <summary>The process rehearsed: vic-exec itself, run through vic-exec, which prints its usage and exits.</summary>
    public static IReadOnlyList<string> Process(string vicExec) => [vicExec];
}
