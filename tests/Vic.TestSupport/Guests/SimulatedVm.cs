using System.Diagnostics;
using System.Text.Json.Nodes;
using Vic.Vim25;

namespace Vic.TestSupport;

/// <summary>
/// A powered-on VM as a real VM: QEMU with the hardware the VM has in vSphere (the bootstrap ISO, a
/// paravirtual SCSI controller with its disks at their units, vmxnet3 NICs each on a hub of its
/// own, COM1 on the serial port's backing), booting the real tether. As an instant clone's parent
/// it is frozen once, its state saved; each child is a QEMU of the same hardware restored from it.
/// </summary>
internal sealed class SimulatedVm : SimulatedGuests.IGuest
{
    private readonly Process _qemu;
    private readonly string _home;
    private readonly SerialRelay _line;
    private readonly Hardware _hardware;
    private readonly HashSet<int> _units;
    private readonly SemaphoreSlim _freezing = new(1, 1);
    private string? _frozenState;

    private SimulatedVm(Process qemu, string home, SerialRelay line, Hardware hardware, IEnumerable<int> units)
    {
        _qemu = qemu;
        _home = home;
        _line = line;
        _hardware = hardware;
        _units = [.. units];
    }

    public string Output => File.Exists(Console(_home)) ? File.ReadAllText(Console(_home)) : "";

    public static SimulatedVm Boot(ManagedObjectReference vm, string home, Func<CancellationToken, Task<Stream>> connect, int memoryMb, IReadOnlyList<GuestDisk> disks, IReadOnlyList<string> macs, Func<ManagedObjectReference, Task> powerOff)
    {
        var hardware = new Hardware(memoryMb, macs, disks);
        var line = new SerialRelay(Path.Combine(home, "com1.sock"), connect);
        return new SimulatedVm(Start(vm, home, hardware.Arguments(home), powerOff), home, line, hardware, disks.Select(d => d.Unit));
    }

    /// <summary>Starts a child of this VM: the same hardware, restored from this VM's frozen state.</summary>
    public async Task<SimulatedVm> ForkAsync(ManagedObjectReference child, string home, Func<CancellationToken, Task<Stream>> connect, Func<ManagedObjectReference, Task> powerOff)
    {
        var state = await FreezeAsync().ConfigureAwait(false);

        // The VMX connects the child's serial port once the child runs, not while its state loads.
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var line = new SerialRelay(Path.Combine(home, "com1.sock"), connect, running.Task);
        var qemu = Start(child, home, [.. _hardware.Arguments(home), "-incoming", "defer"], powerOff);
        var guest = new SimulatedVm(qemu, home, line, _hardware, _hardware.BootDisks.Select(d => d.Unit));
        try
        {
            using var qmp = await QmpLine.ConnectAsync(Qmp(home), TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            await qmp.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = $"exec:cat {state}" }).ConfigureAwait(false);
            var status = await qmp.WaitForAsync("query-status", s => s != "inmigrate", TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            if (status != "running")
            {
                await qmp.ExecuteAsync("cont").ConfigureAwait(false);
            }
        }
        catch
        {
            await guest.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        running.SetResult();
        return guest;
    }

    public async Task SyncDisksAsync(IReadOnlyList<GuestDisk> disks)
    {
        var added = disks.Where(d => !_units.Contains(d.Unit)).ToList();
        if (added.Count == 0 || _qemu.HasExited)
        {
            return;
        }

        using var qmp = await QmpLine.ConnectAsync(Qmp(_home), TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        foreach (var disk in added)
        {
            await qmp.ExecuteAsync("blockdev-add", new JsonObject
            {
                ["driver"] = "vmdk",
                ["node-name"] = $"d{disk.Unit}",
                ["read-only"] = disk.ReadOnly,
                ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = disk.Path, ["locking"] = "off" },
            }).ConfigureAwait(false);
            await qmp.ExecuteAsync("device_add", new JsonObject { ["driver"] = "scsi-hd", ["id"] = $"disk{disk.Unit}", ["drive"] = $"d{disk.Unit}", ["bus"] = "scsi0.0", ["scsi-id"] = disk.Unit }).ConfigureAwait(false);
            _units.Add(disk.Unit);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_qemu.HasExited)
        {
            _qemu.Kill();
            await _qemu.WaitForExitAsync().ConfigureAwait(false);
        }

        await _line.DisposeAsync().ConfigureAwait(false);
        _qemu.Dispose();
        _freezing.Dispose();
    }

    private static string Console(string home) => Path.Combine(home, "console.log");

    private static string Qmp(string home) => Path.Combine(home, "qmp.sock");

    /// <summary>Stops this VM where it is and saves its state, once: from then on it is its children's frozen parent.</summary>
    private async Task<string> FreezeAsync()
    {
        await _freezing.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_frozenState is not null)
            {
                return _frozenState;
            }

            var state = Path.Combine(_home, "frozen.state");
            using var qmp = await QmpLine.ConnectAsync(Qmp(_home), TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            await qmp.ExecuteAsync("stop").ConfigureAwait(false);
            await qmp.ExecuteAsync("migrate", new JsonObject { ["uri"] = $"exec:cat > {state}" }).ConfigureAwait(false);
            var status = await qmp.WaitForAsync("query-migrate", s => s is "completed" or "failed" or "cancelled", TimeSpan.FromSeconds(120)).ConfigureAwait(false);
            if (status != "completed")
            {
                throw new InvalidOperationException($"saving the parent's state ended {status}");
            }

            return _frozenState = state;
        }
        finally
        {
            _freezing.Release();
        }
    }

    private static Process Start(ManagedObjectReference vm, string home, IReadOnlyList<string> arguments, Func<ManagedObjectReference, Task> powerOff) =>
        StartQemu(vm, Console(home), arguments, powerOff);

    /// <summary>Starts QEMU, its messages in <paramref name="console"/>; when it ends, its VM is powered off.</summary>
    internal static Process StartQemu(ManagedObjectReference vm, string console, IReadOnlyList<string> arguments, Func<ManagedObjectReference, Task> powerOff)
    {
        var start = new ProcessStartInfo("qemu-system-x86_64") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var qemu = Process.Start(start) ?? throw new InvalidOperationException("could not start qemu");
        qemu.OutputDataReceived += (_, _) => { };
        qemu.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                File.AppendAllText(console, "[qemu] " + line + "\n");
            }
        };
        qemu.BeginOutputReadLine();
        qemu.BeginErrorReadLine();
        qemu.EnableRaisingEvents = true;
        qemu.Exited += (_, _) => _ = powerOff(vm);
        return qemu;
    }

    /// <summary>What the VM is made of: the same for a parent and its children, down to the MACs.</summary>
    private sealed record Hardware(int MemoryMb, IReadOnlyList<string> Macs, IReadOnlyList<GuestDisk> BootDisks)
    {
        public List<string> Arguments(string home)
        {
            var arguments = new List<string>
            {
                "-accel", "tcg", "-machine", "pc", "-m", $"{MemoryMb}M", "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
                "-qmp", $"unix:{Qmp(home)},server=on,wait=off",
                "-chardev", $"socket,id=chan,path={Path.Combine(home, "com1.sock")},server=off,reconnect=1", "-serial", "chardev:chan",
                "-serial", $"file:{Console(home)}",
                "-cdrom", Repository.Combine("iso", "out", "bootstrap.iso"), "-boot", "d",
                "-device", "pvscsi,id=scsi0",
            };
            foreach (var disk in BootDisks)
            {
                arguments.AddRange([
                    "-drive", $"if=none,id=d{disk.Unit},file={disk.Path},format=vmdk,readonly={(disk.ReadOnly ? "on" : "off")},file.locking=off",
                    "-device", $"scsi-hd,id=disk{disk.Unit},drive=d{disk.Unit},bus=scsi0.0,scsi-id={disk.Unit}",
                ]);
            }

            // The VM's vmxnet3 NICs, in order, each on a hub of its own: present, as the guest expects, if unconnected here.
            for (var i = 0; i < Macs.Count; i++)
            {
                arguments.AddRange(["-netdev", $"hubport,id=n{i},hubid={i}", "-device", $"vmxnet3,netdev=n{i}" + (Macs[i].Length > 0 ? $",mac={Macs[i]}" : "")]);
            }

            return arguments;
        }
    }
}
