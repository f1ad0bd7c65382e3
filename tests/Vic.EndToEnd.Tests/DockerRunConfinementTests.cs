namespace Vic.EndToEnd.Tests;

/// <summary>
/// The docker run options that hold a container's processes (capabilities, read-only root, limits,
/// kernel parameters, devices), looked at from inside the ContainerVM, where runc's would be seen.
/// </summary>
public sealed partial class DockerRunTests
{
    [Fact]
    public async Task CapabilitiesNoNewPrivilegesAndAReadOnlyRootHoldTheProcessAndItsExecs()
    {
        await DockerAsync("run", "-d", "--name", "confined", "--cap-drop", "ALL", "--cap-add", "chown", "--security-opt", "no-new-privileges",
            "--read-only", "--tmpfs", "/tmp", "busybox", "sleep", "600");
        var main = (await DockerAsync("exec", "confined", "sh", "-c", "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/1/status /proc/self/status | cut -d: -f2-")).StandardOutput;
        var writes = await Vch.TryDockerAsync("exec", "confined", "sh", "-c", "touch /tmp/ok && echo tmp writable; echo '10.9.8.7 extra' >> /etc/hosts && echo hosts writable; touch /etc/x");
        var privileged = (await DockerAsync("exec", "--privileged", "confined", "grep", "^CapEff", "/proc/self/status")).StandardOutput;
        var copy = await Vch.TryDockerAsync("cp", "/etc/hostname", "confined:/etc/copied");
        var inspect = (await DockerAsync("inspect", "-f", "{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.ReadonlyRootfs}}", "confined")).StandardOutput.Trim();
        await DockerAsync("rm", "-f", "confined");

        // The exec's own lines (its status; the main process is not PID 1 of the VM): CHOWN alone, as runc gives it.
        Assert.Contains("CapEff:\t0000000000000001", main, StringComparison.Ordinal);
        Assert.Contains("CapBnd:\t0000000000000001", main, StringComparison.Ordinal);
        Assert.Contains("NoNewPrivs:\t1", main, StringComparison.Ordinal);
        Assert.Equal("tmp writable\nhosts writable\n", writes.StandardOutput); // as dockerd's bind-mounted identity files
        Assert.Contains("Read-only file system", writes.StandardError, StringComparison.Ordinal);
        Assert.Equal("CapEff:\t000001ffffffffff\n", privileged);
        Assert.NotEqual(0, copy.ExitCode);
        Assert.Contains("container rootfs is marked read-only", copy.StandardError, StringComparison.Ordinal);
        Assert.Equal("""["CAP_CHOWN"] ["ALL"] ["no-new-privileges"] true""", inspect);
    }

    [Fact]
    public async Task LimitsKernelParametersDevicesAndDnsOptionsReachTheProcess()
    {
        var create = await DockerAsync("create", "--name", "limited", "--ulimit", "nofile=100:200", "--shm-size", "8m", "--sysctl", "net.ipv4.ip_forward=1",
            "--oom-score-adj", "123", "--cpuset-cpus", "1", "--dns-option", "ndots:3", "--device", "/dev/null:/dev/mynull", "--pids-limit", "12",
            "--memory-swappiness", "10", "busybox", "sh", "-c",
            "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1 | awk '{print $2}'; cat /proc/sys/net/ipv4/ip_forward; cat /proc/self/oom_score_adj; " +
            "grep Cpus_allowed_list /proc/self/status | cut -f2; grep ^options /etc/resolv.conf; ls -l /dev/mynull | cut -c1; " +
            "for i in $(seq 20); do sleep 30 & done 2>&1 | grep -c fork");
        var start = await Vch.TryDockerAsync("start", "-a", "limited");
        var inspect = (await DockerAsync("inspect", "-f", "{{.HostConfig.ShmSize}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpusetCpus}} {{json .HostConfig.Ulimits}} {{json .HostConfig.Sysctls}}", "limited")).StandardOutput.Trim();
        await DockerAsync("rm", "-f", "limited");

        Assert.Contains("--memory-swappiness discarded", create.StandardError, StringComparison.Ordinal);
        var lines = start.StandardOutput.Split('\n');
        Assert.Equal(["100", "200", "8192", "1", "123", "1", "options ndots:3", "c"], lines[..8]);
        Assert.True(int.Parse(lines[8], System.Globalization.CultureInfo.InvariantCulture) > 0, $"no fork was refused under --pids-limit 12: {start}");
        Assert.Equal("""8388608 12 1 [{"Name":"nofile","Hard":200,"Soft":100}] {"net.ipv4.ip_forward":"1"}""", inspect);

        // A set the VCH's CPUs cannot hold is refused at create, in dockerd's words, not a 512-vCPU VM.
        var tooMany = await Vch.TryDockerAsync("create", "--cpuset-cpus", "0-511", "busybox", "true");
        Assert.NotEqual(0, tooMany.ExitCode);
        Assert.Contains("Requested CPUs are not available - requested 0-511, available: 0-", tooMany.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DevicesBeyondDockersDefaultsAreDeniedUnlessARuleOrPrivilegeAllowsThem()
    {
        // The VM's own disks are devices of the guest, as a host's are of a runc container: not the container's to read.
        const string ReadADisk = "for d in /dev/sd?; do [ -e $d ] || { echo no-disk; break; }; head -c1 $d >/dev/null 2>&1 && echo disk-open || echo disk-denied; break; done";
        var confined = await DockerAsync("run", "--rm", "--device-cgroup-rule", "c 7:128 rwm", "--device", "/dev/sda:/dev/xda:r", "busybox", "sh", "-c",
            "cat /sys/fs/cgroup/devices/devices.list; head -c1 /dev/xda >/dev/null && echo read-ok; (: > /dev/xda) 2>/dev/null || echo write-denied");
        var plain = await DockerAsync("run", "--rm", "busybox", "sh", "-c", ReadADisk);
        var privileged = await DockerAsync("run", "--rm", "--privileged", "busybox", "sh", "-c", ReadADisk + "; ls /sys/fs/cgroup/devices 2>&1 | head -1");

        var lines = confined.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("c 7:128 rwm", lines);
        Assert.Contains("b 8:0 r", lines); // --device with its permissions
        Assert.Contains("c 136:* rwm", lines); // dockerd's defaults
        Assert.DoesNotContain("a *:* rwm", lines);
        Assert.Equal(["read-ok", "write-denied"], lines[^2..]);
        Assert.Equal("disk-denied\n", plain.StandardOutput);
        Assert.StartsWith("disk-open\n", privileged.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VolumesFromSharesTheMountsAndStopTakesASignalOfItsOwn()
    {
        await DockerAsync("create", "--name", "vf-data", "-v", "vf-volume:/data", "busybox", "true");
        await DockerAsync("run", "--rm", "--volumes-from", "vf-data", "busybox", "sh", "-c", "echo kept > /data/file");
        var readOnly = await Vch.TryDockerAsync("run", "--rm", "--volumes-from", "vf-data:ro", "busybox", "sh", "-c", "cat /data/file; echo more >> /data/file");
        var missing = await Vch.TryDockerAsync("create", "--volumes-from", "vf-nosuch", "busybox", "true");
        await DockerAsync("run", "-d", "--name", "vf-signal", "busybox", "sh", "-c", "trap 'echo got USR1; exit 3' USR1; echo trapping; while true; do sleep 1; done");
        for (var i = 0; i < 100 && (await DockerAsync("logs", "vf-signal")).StandardOutput.Length == 0; i++)
        {
            await Task.Delay(100); // the trap is set once the shell has said so
        }

        await DockerAsync("stop", "-s", "USR1", "vf-signal");
        var logs = (await DockerAsync("logs", "vf-signal")).StandardOutput;
        var exit = (await DockerAsync("inspect", "-f", "{{.State.ExitCode}}", "vf-signal")).StandardOutput.Trim();
        await DockerAsync("rm", "-f", "vf-signal", "vf-data");
        await DockerAsync("volume", "rm", "vf-volume");

        Assert.Equal("kept\n", readOnly.StandardOutput);
        Assert.Contains("Read-only file system", readOnly.StandardError, StringComparison.Ordinal);
        Assert.Contains("No such container: vf-nosuch", missing.StandardError, StringComparison.Ordinal);
        Assert.Equal("trapping\ngot USR1\n", logs);
        Assert.Equal("3", exit);
    }
}
