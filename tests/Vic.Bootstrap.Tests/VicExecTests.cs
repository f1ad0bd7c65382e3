using System.Diagnostics;
using System.Text.RegularExpressions;
using Vic.TestSupport;

namespace Vic.Bootstrap.Tests;

/// <summary>A busybox root filesystem (Debian's busybox-static) for vic-exec to chroot into.</summary>
public sealed class BusyboxRoot : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _directory = new("vic-exec-root");

    public string Path => _directory.Path;

    public async Task InitializeAsync()
    {
        await BootMedia.EnsureBuiltAsync();
        File.SetUnixFileMode(Path, (UnixFileMode)0b111_101_101); // temp directories are 0700: let other users in
        foreach (var dir in new[] { "bin", "etc", "tmp", "dev", "opt/bin" })
        {
            Directory.CreateDirectory(_directory.Combine(dir));
        }

        File.Copy("/bin/busybox", _directory.Combine("bin", "busybox"));
        var applets = await Command.RunAsync("/bin/busybox", ["--list"]);
        foreach (var applet in applets.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (applet != "busybox")
            {
                File.CreateSymbolicLink(_directory.Combine("bin", applet), "busybox");
            }
        }

        await File.WriteAllTextAsync(_directory.Combine("etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n");
        await File.WriteAllTextAsync(_directory.Combine("etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
        await File.WriteAllTextAsync(_directory.Combine("opt", "bin", "greet"), "#!/bin/sh\necho greetings from /opt/bin\n");
        File.SetUnixFileMode(_directory.Combine("opt", "bin", "greet"), (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(_directory.Combine("tmp"), (UnixFileMode)0b1_111_111_111);

        // A shell's background jobs read /dev/null; the tether gives containers a real /dev.
        var mknod = await Command.RunAsync("mknod", ["-m", "666", _directory.Combine("dev", "null"), "c", "1", "3"]);
        Assert.True(mknod.ExitCode == 0, $"the vic-exec tests run as root (mknod): {mknod}");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _directory.Dispose();
}

/// <summary>vic-exec on the host (as root), chrooting into a busybox root.</summary>
public sealed partial class VicExecTests(BusyboxRoot root, ITestOutputHelper output) : IClassFixture<BusyboxRoot>
{
    private static readonly Dictionary<string, string> ContainerPath = new() { ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };

    private Task<CommandResult> RunAsync(IEnumerable<string> options, params string[] command) =>
        RunAsync(options, command, null);

    private async Task<CommandResult> RunAsync(IEnumerable<string> options, string[] command, string? stdin, Dictionary<string, string>? environment = null)
    {
        var result = await Command.RunAsync(BootMedia.VicExec, ["--root", root.Path, .. options, "--", .. command],
            environment ?? ContainerPath, TimeSpan.FromSeconds(30), stdin);
        output.WriteLine($"vic-exec {string.Join(' ', options)} -- {string.Join(' ', command)}: {result}");
        return result;
    }

    [Fact]
    public async Task Echo_prints_and_exits_zero()
    {
        var result = await RunAsync([], "echo", "hi");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("hi\n", result.StandardOutput);
        Assert.Equal("", result.StandardError);
    }

    [Fact]
    public async Task Exit_codes_pass_through()
    {
        Assert.Equal(1, (await RunAsync([], "false")).ExitCode);
        Assert.Equal(7, (await RunAsync([], "sh", "-c", "exit 7")).ExitCode);
    }

    [Fact]
    public async Task A_program_not_in_PATH_is_dockers_127()
    {
        var result = await RunAsync([], "nosuch");
        Assert.Equal(127, result.ExitCode);
        Assert.Equal("exec: \"nosuch\": executable file not found in $PATH\n", result.StandardError);
    }

    [Fact]
    public async Task A_missing_path_is_dockers_stat_error_127()
    {
        var result = await RunAsync([], "/x");
        Assert.Equal(127, result.ExitCode);
        Assert.Equal("exec: \"/x\": stat /x: no such file or directory\n", result.StandardError);
    }

    [Fact]
    public async Task A_file_that_is_not_executable_is_dockers_126()
    {
        var result = await RunAsync([], "/etc/passwd");
        Assert.Equal(126, result.ExitCode);
        Assert.Equal("exec: \"/etc/passwd\": permission denied\n", result.StandardError);
    }

    [Fact]
    public async Task PATH_comes_from_the_environment_and_is_resolved_inside_the_root()
    {
        var found = await RunAsync([], ["greet"], null, new() { ["PATH"] = "/nowhere:/opt/bin:/bin" });
        Assert.Equal(0, found.ExitCode);
        Assert.Equal("greetings from /opt/bin\n", found.StandardOutput);

        // The host has /usr/bin/env; the root does not, and its PATH decides.
        var notFound = await RunAsync([], ["greet"], null, new() { ["PATH"] = "/bin:/usr/bin" });
        Assert.Equal(127, notFound.ExitCode);
    }

    [Fact]
    public async Task Uid_gid_and_groups_are_set()
    {
        var result = await RunAsync(["--uid", "65534", "--gid", "65534"], "sh", "-c", "id -u; id -g; id -G");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("65534\n65534\n65534\n", result.StandardOutput);

        result = await RunAsync(["--uid", "1000", "--gid", "1000", "--groups", "10,20"], "sh", "-c", "id -u; id -G");
        Assert.Equal("1000\n1000 10 20\n", result.StandardOutput);
    }

    /// <summary>Runs a host shell command through vic-exec without a root: the busybox root has no /proc to look at.</summary>
    private async Task<CommandResult> RunOnHostAsync(IEnumerable<string> options, string script)
    {
        var result = await Command.RunAsync(BootMedia.VicExec, [.. options, "--", "/bin/sh", "-c", script], ContainerPath, TimeSpan.FromSeconds(30));
        output.WriteLine($"vic-exec {string.Join(' ', options)} -- sh -c {script}: {result}");
        return result;
    }

    [Fact]
    public async Task Capabilities_not_kept_leave_the_bounding_set_and_root_has_just_the_kept_ones()
    {
        var file = Path.GetTempFileName();
        try
        {
            // CAP_CHOWN (0) and CAP_KILL (5): 0x21.
            var root = await RunOnHostAsync(["--caps", "0,5", "--no-new-privs"], "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status");
            var user = await RunOnHostAsync(["--caps", "0,5", "--uid", "1000", "--gid", "1000"], "grep -E '^(CapEff|CapBnd)' /proc/self/status");
            var none = await RunOnHostAsync(["--caps", ""], $"grep -E '^CapEff' /proc/self/status; chown 1:1 {file} 2>/dev/null || echo refused");

            Assert.Equal("CapEff:\t0000000000000021\nCapBnd:\t0000000000000021\nNoNewPrivs:\t1\n", root.StandardOutput);
            Assert.Equal("CapEff:\t0000000000000000\nCapBnd:\t0000000000000021\n", user.StandardOutput);
            Assert.Equal("CapEff:\t0000000000000000\nrefused\n", none.StandardOutput);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Rlimits_oom_score_and_cpus_are_set_before_the_exec()
    {
        var result = await RunOnHostAsync(["--rlimit", "nofile=100:200", "--rlimit", "core=-1:-1", "--oom-score-adj", "321", "--cpus", "0"],
            "ulimit -n; ulimit -Hn; ulimit -c; cat /proc/self/oom_score_adj; grep Cpus_allowed_list /proc/self/status");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("100\n200\nunlimited\n321\nCpus_allowed_list:\t0\n", result.StandardOutput);
    }

    [Fact]
    public async Task A_bad_rlimit_or_cgroup_fails_before_the_program_runs()
    {
        var unknown = await RunAsync(["--rlimit", "nosuch=1:1"], "echo", "ran");
        var inverted = await RunAsync(["--rlimit", "nofile=200:100"], "echo", "ran");
        var cgroup = await RunAsync(["--cgroup", "/nonexistent/cgroup"], "echo", "ran");

        Assert.Equal((125, ""), (unknown.ExitCode, unknown.StandardOutput));
        Assert.Contains("unknown rlimit: nosuch=1:1", unknown.StandardError, StringComparison.Ordinal);
        Assert.Equal((125, ""), (inverted.ExitCode, inverted.StandardOutput));
        Assert.Contains("setrlimit", inverted.StandardError, StringComparison.Ordinal);
        Assert.Equal((125, ""), (cgroup.ExitCode, cgroup.StandardOutput));
        Assert.Contains("/nonexistent/cgroup/cgroup.procs", cgroup.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_workdir_is_created()
    {
        var result = await RunAsync(["--workdir", "/some/new/dir"], "pwd");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/some/new/dir\n", result.StandardOutput);
        Assert.True(Directory.Exists(Path.Combine(root.Path, "some", "new", "dir")));
    }

    [Fact]
    public async Task Stdin_round_trips()
    {
        var text = "line one\nline two\n" + new string('x', 100_000) + "\n";
        var result = await RunAsync([], ["cat"], text);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(text, result.StandardOutput);
    }

    [Fact]
    public async Task A_child_killed_by_SIGKILL_gives_137()
    {
        Assert.Equal(137, (await RunAsync([], "sh", "-c", "kill -9 $$")).ExitCode);
        Assert.Equal(143, (await RunAsync([], "sh", "-c", "kill -TERM $$")).ExitCode);
    }

    [Fact]
    public async Task SIGTERM_to_vic_exec_reaches_the_child()
    {
        using var process = Start("sh", "-c", "trap 'exit 42' TERM; sleep 3 & echo ready; wait");
        Assert.Equal("ready", await process.StandardOutput.ReadLineAsync());
        Signal(process.Id, "TERM");
        Assert.Equal(42, await ExitCodeAsync(process));
    }

    [Fact]
    public async Task Signals_other_than_TERM_are_forwarded_too()
    {
        using var process = Start("sh", "-c", "trap 'exit 11' USR1; trap 'exit 12' HUP; sleep 3 & echo ready; wait");
        Assert.Equal("ready", await process.StandardOutput.ReadLineAsync());
        Signal(process.Id, "USR1");
        Assert.Equal(11, await ExitCodeAsync(process));

        using var interrupted = Start("sleep", "30");
        await WaitForAsync(() => Children(interrupted.Id).Count == 1);
        Signal(interrupted.Id, "INT");
        Assert.Equal(130, await ExitCodeAsync(interrupted));
    }

    [Fact]
    public async Task An_orphaned_grandchild_is_reparented_to_vic_exec_and_reaped()
    {
        // The subshell starts `sleep 0.5` in the background and exits at once: sleep is orphaned.
        using var process = Start("sh", "-c", "(sleep 0.5 &); echo started; exec sleep 3");
        Assert.Equal("started", await process.StandardOutput.ReadLineAsync());
        await WaitForAsync(() => Children(process.Id).Count == 2);
        output.WriteLine($"children of vic-exec while the orphan lives: {string.Join(", ", Children(process.Id))}");

        await Task.Delay(1200);
        var children = Children(process.Id);
        output.WriteLine($"children of vic-exec after the orphan ended: {string.Join(", ", children)}");
        Assert.DoesNotContain(children, c => c.State == 'Z');
        Assert.Single(children);
        Assert.Equal(0, await ExitCodeAsync(process));
    }

    [Fact]
    public async Task SIGKILL_of_vic_exec_takes_the_child_with_it()
    {
        using var process = Start("sleep", "100");
        await WaitForAsync(() => Children(process.Id).Count == 1);
        var child = Children(process.Id).Single().Pid;
        Signal(process.Id, "KILL");
        await WaitForAsync(() => !IsAlive(child));
    }

    [Fact]
    public async Task With_tty_the_child_gets_it_as_controlling_terminal_and_stdio()
    {
        // A pty pair from python3; vic-exec runs the host's busybox (the pty lives in the host's /dev).
        const string script = """
            import os, subprocess, sys
            master, slave = os.openpty()
            name = os.ttyname(slave)
            code = subprocess.run([sys.argv[1], "--tty", name, "--", "/bin/busybox", "sh", "-c", "tty && exec cat /proc/self/stat"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).returncode
            os.close(slave)
            data = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            print(name)
            print(code)
            print(data.decode().replace("\r", ""), end="")
            """;
        var result = await Command.RunAsync("python3", ["-c", script, BootMedia.VicExec], timeout: TimeSpan.FromSeconds(30));
        output.WriteLine(result.ToString());
        var lines = result.StandardOutput.Split('\n');
        Assert.Matches("^/dev/pts/[0-9]+$", lines[0]);
        Assert.Equal("0", lines[1]);
        Assert.Equal(lines[0], lines[2]); // `tty` names the terminal it was given

        // /proc/self/stat of the child: a session leader in the foreground of its terminal.
        var fields = lines[3][(lines[3].LastIndexOf(')') + 2)..].Split(' ');
        var (pgrp, session, ttyNr, foreground) = (fields[2], fields[3], fields[4], fields[5]);
        Assert.NotEqual("0", ttyNr);
        Assert.Equal(session, pgrp);
        Assert.Equal(pgrp, foreground);
    }

    [Fact]
    public async Task Only_stdio_is_inherited()
    {
        // fd 7 is open in vic-exec; the container process must not see it (ls's own directory fd is 3).
        var result = await Command.RunAsync("bash", ["-c", "exec 7</dev/null; exec \"$0\" -- /bin/busybox ls /proc/self/fd", BootMedia.VicExec]);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("0\n1\n2\n3\n", result.StandardOutput);
    }

    [Fact]
    public async Task The_exec_fd_ends_when_the_program_runs_and_the_program_does_not_inherit_it()
    {
        // The tether's way of knowing the program runs: end-of-file on the pipe vic-exec's child holds until its exec.
        using var executed = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In, HandleInheritability.Inheritable);
        var start = new ProcessStartInfo(BootMedia.VicExec) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in new[] { "--exec-fd", executed.GetClientHandleAsString(), "--", "/bin/busybox", "sh", "-c", "ls /proc/self/fd; sleep 3" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        executed.DisposeLocalCopyOfClientHandle();
        var read = await Task.Run(() => executed.Read(new byte[1], 0, 1)).WaitAsync(TimeSpan.FromSeconds(20));
        var runningAtEndOfFile = !process.HasExited;
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(0, read);
        Assert.True(runningAtEndOfFile, "the exec fd ended only when the program did");
        Assert.Equal(0, process.ExitCode);
        Assert.Equal("0\n1\n2\n3\n", stdout);
    }

    [Fact]
    public async Task The_exec_fd_carries_a_byte_when_the_program_cannot_be_executed()
    {
        // How the tether tells an exec that did not start (dockerd's 126) from a program that exited 127.
        using var executed = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In, HandleInheritability.Inheritable);
        var start = new ProcessStartInfo(BootMedia.VicExec) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in new[] { "--exec-fd", executed.GetClientHandleAsString(), "--", "/nosuch" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        executed.DisposeLocalCopyOfClientHandle();
        var read = await Task.Run(() => executed.Read(new byte[1], 0, 1)).WaitAsync(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync();

        Assert.Equal(1, read);
        Assert.Equal(127, process.ExitCode);
    }

    [Fact]
    public async Task Bad_usage_is_125()
    {
        var result = await Command.RunAsync(BootMedia.VicExec, ["--root", root.Path]);
        Assert.Equal(125, result.ExitCode);
        Assert.Contains("usage: vic-exec", result.StandardError);
        result = await Command.RunAsync(BootMedia.VicExec, ["--uid", "abc", "--", "true"]);
        Assert.Equal(125, result.ExitCode);
    }

    private Process Start(params string[] command)
    {
        var start = new ProcessStartInfo(BootMedia.VicExec)
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--root", root.Path, "--", .. command])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PATH"] = ContainerPath["PATH"];
        return Process.Start(start)!;
    }

    private static async Task<int> ExitCodeAsync(Process process)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync(limit.Token);
        return process.ExitCode;
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString()])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "timed out waiting");
            await Task.Delay(10);
        }
    }

    private sealed record ProcessEntry(int Pid, char State, string Name)
    {
        public override string ToString() => $"{Pid} {Name} {State}";
    }

    /// <summary>The processes whose parent is <paramref name="parent"/>, from /proc.</summary>
    private static List<ProcessEntry> Children(int parent)
    {
        var children = new List<ProcessEntry>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || Stat(pid) is not { } stat)
            {
                continue;
            }

            if (stat.Parent == parent)
            {
                children.Add(new ProcessEntry(pid, stat.State, stat.Name));
            }
        }

        return children;
    }

    private static bool IsAlive(int pid) => Stat(pid) is { State: not 'Z' and not 'X' };

    private static (string Name, char State, int Parent)? Stat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        var match = StatLine().Match(text);
        return match.Success ? (match.Groups[1].Value, match.Groups[2].Value[0], int.Parse(match.Groups[3].Value)) : null;
    }

    [GeneratedRegex(@"^\d+ \((.*)\) (\S) (-?\d+)", RegexOptions.Singleline)]
    private static partial Regex StatLine();
}
