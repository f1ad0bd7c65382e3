using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Vic.TestSupport;

namespace Vic.Bootstrap.Tests;

/// <summary>
/// Boots the real kernel and initramfs under QEMU (TCG) with the placeholder tether, which prints
/// what it finds ("placeholder: key=value"), talks over vic.channel and powers off. One class: the
/// boots run one after another, so the timings they print mean something on a 2-core machine.
/// </summary>
public sealed partial class BootTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(90);
    private const string Cmdline = "console=ttyS0 quiet panic=-1 cryptomgr.notests vic.channel=/dev/virtio-ports/vic.channel";
    private const string IsoCmdline = "console=ttyS1 quiet panic=-1 cryptomgr.notests vic.channel=/dev/ttyS0";
    private readonly TempDirectory _temp = new("vic-boot");

    public Task InitializeAsync() => BootMedia.EnsureBuiltAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Kernel_and_initramfs_boot_to_the_tether_which_finds_its_contract_and_powers_off()
    {
        var channel = _temp.Combine("vic.sock");
        await using var vm = QemuVm.Start([
            .. QemuVm.BaseArguments(), "-kernel", BootMedia.Kernel, "-initrd", BootMedia.Initramfs,
            "-append", Cmdline + " vic.debug vic.placeholder.echo", .. QemuVm.ChannelArguments(channel),
        ]);

        // The host end of vic.channel: the tether's first bytes, then a round trip.
        using var socket = await QemuVm.ConnectAsync(channel, TimeSpan.FromSeconds(10));
        var hello = await QemuVm.ReadLineAsync(socket, BootTimeout);
        Assert.Equal("VIC-TETHER-PLACEHOLDER hello", hello);
        await socket.SendAsync("ping from the host\n"u8.ToArray(), System.Net.Sockets.SocketFlags.None);
        Assert.Equal("ping from the host", await QemuVm.ReadLineAsync(socket, TimeSpan.FromSeconds(30)));

        var firstLine = await vm.WaitForLineAsync("VIC-TETHER-PLACEHOLDER pid=", BootTimeout);
        Assert.Equal(0, await vm.WaitForExitAsync(BootTimeout));
        var console = vm.Console;
        output.WriteLine($"qemu start -> tether's first console line: {firstLine.TotalMilliseconds:0} ms (TCG, pc, 256 MiB)");
        output.WriteLine(string.Join('\n', console.Split('\n').Where(l => l.StartsWith("vic-init:", StringComparison.Ordinal))));

        var facts = Facts(console);
        Assert.Contains("pid=1 ", console); // the tether is PID 1: vic-init exec'd it
        Assert.Equal("/tether/vic-tether", facts["argv0"].Single());
        Assert.Contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", facts["env"]);
        Assert.Contains(facts["env"], e => e.StartsWith("VIC_INIT_DONE_MS=", StringComparison.Ordinal));
        foreach (var mount in new[] { "proc /proc proc", "sysfs /sys sysfs", "devtmpfs /dev devtmpfs", "devpts /dev/pts devpts",
                     "shm /dev/shm tmpfs", "tmpfs /run tmpfs", "tmpfs /tmp tmpfs", "cgroup2 /sys/fs/cgroup cgroup2" })
        {
            Assert.Contains(facts["mount"], m => m.StartsWith(mount, StringComparison.Ordinal));
        }

        Assert.Contains(facts["mount"], m => m.StartsWith("devpts /dev/pts devpts", StringComparison.Ordinal) && m.Contains("ptmxmode=666"));
        foreach (var module in new[] { "virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "vsock", "vmw_vsock_virtio_transport",
                     "overlay", "vmw_pvscsi", "vmxnet3", "vmw_vsock_vmci_transport", "sd_mod", "virtiofs" })
        {
            Assert.Contains(module, facts["module"]);
        }

        Assert.Contains("/dev/virtio-ports/vic.channel -> ../vport0p1", facts["port"]);
        Assert.Equal("up", facts["lo"].Single());
        Assert.Equal("yes", facts["vic-exec"].Single());
        Assert.Equal("yes", facts["ptmx"].Single());
        Assert.Equal("/dev/virtio-ports/vic.channel wrote=29", facts["channel"].Single());
        Assert.Matches(@"vic-init: modules +[0-9.]+ ms +\(\d+ loaded, 0 already there, 0 failed\)", console);
    }

    [Fact]
    public async Task Iso_boots_with_isolinux_to_the_tether_with_its_channel_on_the_first_serial_port()
    {
        // As vSphere runs it: COM1 is the channel (there a network-backed serial port; here a socket
        // QEMU serves, waiting for us), COM2 the console.
        var channel = _temp.Combine("vic.sock");
        await using var vm = QemuVm.Start([
            "-accel", "tcg", "-machine", "pc", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
            "-chardev", $"socket,id=chan,path={channel},server=on,wait=on", "-serial", "chardev:chan", "-serial", "stdio", "-cdrom", BootMedia.Iso,
        ]);
        using var socket = await QemuVm.ConnectAsync(channel, TimeSpan.FromSeconds(10));
        Assert.Equal("VIC-TETHER-PLACEHOLDER hello", await QemuVm.ReadLineAsync(socket, BootTimeout));
        var firstLine = await vm.WaitForLineAsync("VIC-TETHER-PLACEHOLDER pid=1", BootTimeout);
        output.WriteLine($"ISO: qemu start -> tether's first console line: {firstLine.TotalMilliseconds:0} ms");
        Assert.Equal(0, await vm.WaitForExitAsync(BootTimeout));

        var cmdline = Facts(vm.Console)["cmdline"].Single();
        Assert.Contains(IsoCmdline, cmdline);
        Assert.DoesNotContain("vic.debug", cmdline);

        // Quiet: nothing from the kernel or vic-init before the tether's first line but power-off
        // (QEMU's own note that it waits for the channel aside).
        var console = string.Join('\n', vm.Console.Split('\n').Where(l => !l.StartsWith("[qemu]", StringComparison.Ordinal)));
        Assert.StartsWith("VIC-TETHER-PLACEHOLDER", console.TrimStart());
        Assert.DoesNotContain("vic-init:", console);
    }

    [Fact]
    public async Task A_tether_that_cannot_start_gets_a_reason_on_the_console_and_a_power_off()
    {
        await using var vm = QemuVm.Start([
            .. QemuVm.BaseArguments(), "-kernel", BootMedia.Kernel, "-initrd", BootMedia.Initramfs,
            "-append", Cmdline + " vic.tether=/tether/nosuch",
        ]);
        await vm.WaitForLineAsync("vic-init: cannot exec /tether/nosuch: No such file or directory; powering off", BootTimeout);
        Assert.Equal(0, await vm.WaitForExitAsync(BootTimeout));
        Assert.DoesNotContain("Kernel panic", vm.Console);

        // Without vic.channel's device the wait for it is short and says so.
        Assert.Contains("vic-init: /dev/virtio-ports/vic.channel did not appear", vm.Console);
    }

    [Theory]
    [InlineData("pc")]
    [InlineData("q35")]
    public async Task A_virtio_disk_hot_added_after_boot_appears_as_dev_vda(string machine)
    {
        var qmp = _temp.Combine("qmp.sock");
        var disk = _temp.Combine("disk.raw");
        await using (var file = File.Create(disk))
        {
            file.SetLength(4 << 20);
        }

        List<string> arguments = [
            .. QemuVm.BaseArguments(machine), "-kernel", BootMedia.Kernel, "-initrd", BootMedia.Initramfs,
            "-append", Cmdline + " vic.placeholder.wait=/dev/vda",
            "-qmp", $"unix:{qmp},server=on,wait=off",
            "-drive", $"if=none,id=hot0,format=raw,file={disk}",
        ];
        if (machine == "q35")
        {
            arguments.AddRange(["-device", "pcie-root-port,id=rp1,chassis=1,slot=1"]);
        }

        await using var vm = QemuVm.Start(arguments);
        await vm.WaitForLineAsync("placeholder: waiting for /dev/vda", BootTimeout);
        var device = new JsonObject { ["driver"] = "virtio-blk-pci", ["drive"] = "hot0", ["id"] = "vblk0" };
        if (machine == "q35")
        {
            device["bus"] = "rp1";
        }

        await QemuVm.QmpAsync(qmp, "device_add", device);
        await vm.WaitForLineAsync("placeholder: appeared /dev/vda=", TimeSpan.FromSeconds(30));
        var appeared = Facts(vm.Console)["appeared /dev/vda"].Single();
        output.WriteLine($"{machine}: hot-added virtio-blk -> /dev/vda: {appeared}");
        Assert.StartsWith("yes", appeared);
        Assert.Equal(0, await vm.WaitForExitAsync(BootTimeout));
    }

    [Fact]
    public async Task The_build_is_reproducible_and_fast_when_nothing_changed()
    {
        output.WriteLine(await BootMedia.EnsureBuiltAsync());

        // A second build into a fresh directory must give the same bytes.
        var again = _temp.Combine("out");
        var result = await BootMedia.RunBuildAsync(again);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(Sha256(BootMedia.Initramfs), Sha256(Path.Combine(again, "initramfs.img")));
        Assert.Equal(Sha256(BootMedia.Iso), Sha256(Path.Combine(again, "bootstrap.iso")));

        // And an up-to-date build does nothing, quickly.
        var before = File.GetLastWriteTimeUtc(BootMedia.Iso);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        result = await BootMedia.RunBuildAsync(BootMedia.OutDirectory);
        Assert.True(result.ExitCode == 0, result.ToString());
        output.WriteLine($"up-to-date build: {clock.ElapsedMilliseconds} ms\n{result.StandardOutput}");
        Assert.Equal(before, File.GetLastWriteTimeUtc(BootMedia.Iso));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"an up-to-date build took {clock.Elapsed}");
        Assert.Matches(@"bootstrap\.iso +[0-9.]+ MiB", result.StandardOutput);
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>The placeholder's "placeholder: key=value" (or "key value") lines, grouped by key.</summary>
    private static Dictionary<string, List<string>> Facts(string console)
    {
        var facts = new Dictionary<string, List<string>>();
        foreach (Match match in FactLine().Matches(console))
        {
            var key = match.Groups["key"].Value;
            if (!facts.TryGetValue(key, out var values))
            {
                facts[key] = values = [];
            }

            values.Add(match.Groups["value"].Value.TrimEnd('\r'));
        }

        return facts;
    }

    [GeneratedRegex(@"^placeholder: (?<key>[^=\n]+?)=(?<value>[^\n]*)$", RegexOptions.Multiline)]
    private static partial Regex FactLine();
}
