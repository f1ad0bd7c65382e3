using System.Diagnostics;
using System.ComponentModel;

namespace Vic.Build.Context;

/// <summary>
/// A git repository as Docker names one for a build: <c>URL#ref:folder</c>, where the URL is
/// <c>git://</c>, <c>git@host:path</c>, an http(s) URL ending in <c>.git</c> or <c>github.com/...</c>.
/// Cloned shallow with the host's git (the remote context of <c>docker build URL</c>, and
/// <c>ADD</c> of a repository).
/// </summary>
public static class GitRepository
{
    public static bool IsGitUrl(string source) =>
        source.StartsWith("git://", StringComparison.Ordinal) || source.StartsWith("git@", StringComparison.Ordinal)
        || source.StartsWith("github.com/", StringComparison.Ordinal)
        || ((source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            && source.Split('#')[0].EndsWith(".git", StringComparison.Ordinal));

    /// <summary>
    /// Clones <paramref name="remote"/> and moves the folder it names (the whole tree when none) to
    /// <paramref name="into"/>, which must not exist; <c>.git</c> goes unless <paramref name="keepGitDir"/>.
    /// </summary>
    public static async Task CloneAsync(string remote, string into, bool keepGitDir, CancellationToken cancellationToken)
    {
        var (url, fragment) = remote.Split('#', 2) is [var u, var f] ? (u, f) : (remote, "");
        url = url.StartsWith("github.com/", StringComparison.Ordinal) ? "https://" + url : url;
        var (reference, subfolder) = fragment.Split(':', 2) is [var r, var s] ? (r, s) : (fragment, "");
        var clone = into + ".git-clone";
        // No local repositories (file://, plain paths) and no ext:: helpers, submodules included.
        var arguments = new List<string> { "-c", "protocol.file.allow=never", "clone", "--depth", "1", "--recurse-submodules" };
        if (reference.Length > 0)
        {
            arguments.Add($"--branch={reference}");
        }

        arguments.AddRange(["--", url, clone]);
        try
        {
            await RunGitAsync(arguments, cancellationToken).ConfigureAwait(false);
            var root = Inside(clone, subfolder) ?? throw new BuildException($"{subfolder} is not a folder of {url}");

            Directory.Move(root, into);
            if (!keepGitDir && Directory.Exists(Path.Combine(into, ".git")))
            {
                Directory.Delete(Path.Combine(into, ".git"), recursive: true);
            }
        }
        finally
        {
            if (Directory.Exists(clone))
            {
                Directory.Delete(clone, recursive: true);
            }
        }
    }

    /// <summary>
    /// The folder <paramref name="subfolder"/> names in the clone, or null when there is none. Each
    /// step must be a real folder: a symlink in the repository could name one of the VCH's own
    /// folders, which the move below would then take into the build.
    /// </summary>
    private static string? Inside(string clone, string subfolder)
    {
        var here = clone;
        foreach (var part in DockerIgnore.Clean(subfolder).Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "."))
        {
            here = Path.Combine(here, part);
            var info = new DirectoryInfo(here);
            if (!info.Exists || info.LinkTarget is not null)
            {
                return null;
            }
        }

        return Path.GetFullPath(here).StartsWith(Path.GetFullPath(clone), StringComparison.Ordinal) ? here : null;
    }

    private static async Task RunGitAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        // No terminal prompt for credentials and no ssh questions: a build fails, it does not wait.
        // Only network transports, whatever the repository's submodules name.
        var start = new ProcessStartInfo("git", arguments) { RedirectStandardError = true, RedirectStandardOutput = true };
        start.Environment["GIT_TERMINAL_PROMPT"] = "0";
        start.Environment["GIT_ALLOW_PROTOCOL"] = "http:https:git:ssh";
        start.Environment["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes";
        Process git;
        try
        {
            git = Process.Start(start)!;
        }
        catch (Win32Exception)
        {
            throw new BuildException("git is not installed on this VCH");
        }

        using (git)
        {
            try
            {
                var errors = git.StandardError.ReadToEndAsync(cancellationToken);
                await git.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
                await git.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                if (git.ExitCode != 0)
                {
                    throw new BuildException($"unable to 'git clone' to temporary context directory: {(await errors.ConfigureAwait(false)).Trim()}");
                }
            }
            catch (OperationCanceledException)
            {
                git.Kill(entireProcessTree: true);
                throw;
            }
        }
    }
}
