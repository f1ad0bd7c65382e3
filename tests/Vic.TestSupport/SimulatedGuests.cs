using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Vim25;

namespace Vic.TestSupport;

/// <summary>
/// Plays the ESXi hosts' part for one VCH's ContainerVMs in vcsim, which has no guests: for each VM
/// that is powered on it runs the real tether (host mode, in a busybox root of its own) and, as the
/// VMX process does with a network-backed serial port in client mode, connects the VM's
/// <c>tcp://endpoint:port</c> to the tether's serial line, connecting again when the endpoint goes
/// away. Bytes wait while there is no connection, as they do in a guest's serial buffer. When the
/// container ends the tether exits and the VM is powered off through the API, as the guest does.
/// </summary>
public sealed class SimulatedGuests : IAsyncDisposable
{
    private readonly VimSession _session;
    private readonly string _vch;
    private readonly TempDirectory _home = new("guests");
    private readonly ConcurrentDictionary<string, IGuest> _guests = new();
    private readonly bool _realVms;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watching;

    private SimulatedGuests(VimSession session, string vch, bool realVms)
    {
        _session = session;
        _vch = vch;
        _realVms = realVms;
        _watching = Task.Run(WatchAsync);
    }

    /// <summary>Every tether started so far and what it printed, for failing tests to show.</summary>
    public string Output => string.Join('\n', _guests.Select(g => $"{g.Key}: {g.Value.Output}"));

    /// <summary>
    /// Starts playing the guests. With <paramref name="realVms"/> each guest is a real VM: QEMU with
    /// the hardware the VM has in vSphere (the bootstrap ISO, a paravirtual SCSI controller with its
    /// disks at their units, COM1 connected to the serial port's <c>tcp://</c> URI), booting the
    /// real tether; the disks' content is the endpoint's own copy (vcsim keeps none of an import).
    /// </summary>
    public static async Task<SimulatedGuests> StartAsync(VimSessionConfig config, string vch, bool realVms = false)
    {
        await BootImages.EnsureBuiltAsync().ConfigureAwait(false);
        var session = await VimSession.ConnectAsync(config, NullLogger.Instance, CancellationToken.None).ConfigureAwait(false);
        return new SimulatedGuests(session, vch, realVms);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _watching.ConfigureAwait(false);
        foreach (var guest in _guests.Values)
        {
            await guest.DisposeAsync().ConfigureAwait(false);
        }

        await _session.DisposeAsync().ConfigureAwait(false);
        _home.Dispose();
        _stop.Dispose();
    }

    private async Task WatchAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var vms = await _session.ListAsync("VirtualMachine", ["runtime.powerState", "config.extraConfig", "config.hardware.device", "config.hardware.memoryMB"], _stop.Token).ConfigureAwait(false);
                var on = new HashSet<string>();
                foreach (var vm in vms)
                {
                    var extra = VirtualMachines.ExtraConfigOf(vm.Properties.GetValueOrDefault("config.extraConfig"));
                    if (extra.GetValueOrDefault("vic.vch") != _vch || vm.Text("runtime.powerState") != "poweredOn")
                    {
                        continue;
                    }

                    on.Add(vm.Obj.Value);
                    var devices = vm.Properties.GetValueOrDefault("config.hardware.device")?.Elements().Select(DeviceInfo.Parse).ToList() ?? [];
                    var serial = devices.FirstOrDefault(d => d.Type == "VirtualSerialPort")?.ServiceUri;
                    var macs = devices.Where(d => d.Type == "VirtualVmxnet3").Select(d => d.Xml.Element(Vic.Vim25.Soap.VimXml.Vim + "macAddress")?.Value ?? "").ToList();
                    if (serial is not null && !_guests.ContainsKey(vm.Obj.Value))
                    {
                        var home = Path.Combine(_home.Path, vm.Obj.Value);
                        _guests[vm.Obj.Value] = _realVms
                            ? VmGuest.Start(vm.Obj, new Uri(serial), home, int.Parse(vm.Text("config.hardware.memoryMB") ?? "256", System.Globalization.CultureInfo.InvariantCulture), DisksOf(extra), macs, PowerOffAsync)
                            : Guest.Start(vm.Obj, new Uri(serial), home, PowerOffAsync);
                    }
                }

                foreach (var gone in _guests.Keys.Where(k => !on.Contains(k)).ToList())
                {
                    if (_guests.TryRemove(gone, out var guest))
                    {
                        await guest.DisposeAsync().ConfigureAwait(false);
                    }
                }

                await Task.Delay(100, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is VimFaultException or VimProtocolException or HttpRequestException)
            {
                // vcsim is busy or going away; look again.
            }
        }
    }

    private async Task PowerOffAsync(ManagedObjectReference vm)
    {
        try
        {
            await _session.PowerOffVmAsync(vm, CancellationToken.None).ConfigureAwait(false);
        }
        catch (VimFaultException)
        {
            // Already off, or gone.
        }
    }

    /// <summary>The VM's disks in the backend's order, with the endpoint's copy of each and whether it is a shared layer.</summary>
    private static List<(string Path, bool ReadOnly)> DisksOf(IReadOnlyDictionary<string, string> extraConfig) =>
        extraConfig.TryGetValue("vic.vm.disks", out var json)
            ? [.. System.Text.Json.JsonDocument.Parse(json).RootElement.EnumerateArray().Select(d => (d.GetProperty("localPath").GetString()!, d.GetProperty("role").GetInt32() == 0))]
            : [];

    private interface IGuest : IAsyncDisposable
    {
        string Output { get; }
    }

    /// <summary>A real VM with the vSphere hardware of the ContainerVM, under QEMU.</summary>
    private sealed class VmGuest : IGuest
    {
        private readonly Process _qemu;
        private readonly string _console;

        private VmGuest(Process qemu, string console)
        {
            _qemu = qemu;
            _console = console;
        }

        public string Output => File.Exists(_console) ? File.ReadAllText(_console) : "";

        public static VmGuest Start(ManagedObjectReference vm, Uri endpoint, string home, int memoryMb, IReadOnlyList<(string Path, bool ReadOnly)> disks, IReadOnlyList<string> nics, Func<ManagedObjectReference, Task> powerOff)
        {
            Directory.CreateDirectory(home);
            var console = Path.Combine(home, "console.log");
            var arguments = new List<string>
            {
                "-accel", "tcg", "-machine", "pc", "-m", $"{memoryMb}M", "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
                "-chardev", $"socket,id=chan,host={endpoint.Host},port={endpoint.Port},server=off,reconnect=1", "-serial", "chardev:chan",
                "-serial", $"file:{console}",
                "-cdrom", Repository.Combine("iso", "out", "bootstrap.iso"), "-boot", "d",
                "-device", "pvscsi,id=scsi0",
            };
            for (var i = 0; i < disks.Count; i++)
            {
                arguments.AddRange([
                    "-drive", $"if=none,id=d{i},file={disks[i].Path},format=vmdk,readonly={(disks[i].ReadOnly ? "on" : "off")},file.locking=off",
                    "-device", $"scsi-hd,drive=d{i},bus=scsi0.0,scsi-id={(i < 7 ? i : i + 1)}",
                ]);
            }

            // The VM's vmxnet3 NICs, in order, each on a hub of its own: present, as the guest expects, if unconnected here.
            for (var i = 0; i < nics.Count; i++)
            {
                arguments.AddRange(["-netdev", $"hubport,id=n{i},hubid={i}", "-device", $"vmxnet3,netdev=n{i}" + (nics[i].Length > 0 ? $",mac={nics[i]}" : "")]);
            }

            var start = new ProcessStartInfo("qemu-system-x86_64") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            arguments.ForEach(start.ArgumentList.Add);
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
            return new VmGuest(qemu, console);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_qemu.HasExited)
            {
                _qemu.Kill();
                await _qemu.WaitForExitAsync().ConfigureAwait(false);
            }

            _qemu.Dispose();
        }
    }

    /// <summary>One powered-on VM: its tether and the serial line between it and the endpoint.</summary>
    private sealed class Guest : IGuest
    {
        private readonly Process _tether;
        private readonly Socket _listener;
        private readonly Uri _endpoint;
        private readonly CancellationTokenSource _stop = new();
        private readonly System.Text.StringBuilder _output = new();
        private Task _relay = Task.CompletedTask;
        private NetworkStream? _tcp;

        private Guest(Process tether, Socket listener, Uri endpoint)
        {
            _tether = tether;
            _listener = listener;
            _endpoint = endpoint;
        }

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public static Guest Start(ManagedObjectReference vm, Uri endpoint, string home, Func<ManagedObjectReference, Task> powerOff)
        {
            var root = BusyboxRoot.Create(Path.Combine(home, "root"));
            var line = Path.Combine(home, "serial.sock");
            var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(line));
            listener.Listen(1);
            var start = new ProcessStartInfo(Repository.Combine("iso", "out", "tether", "vic-tether")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in (string[])["--root", root, "--channel", "unix:" + line, "--vic-exec", Repository.Combine("iso", "out", "native", "vic-exec"), "--exit-with-main"])
            {
                start.ArgumentList.Add(argument);
            }

            var tether = Process.Start(start) ?? throw new InvalidOperationException("could not start the tether");
            var guest = new Guest(tether, listener, endpoint);
            tether.OutputDataReceived += (_, e) => guest.Append(e.Data);
            tether.ErrorDataReceived += (_, e) => guest.Append(e.Data);
            tether.BeginOutputReadLine();
            tether.BeginErrorReadLine();
            tether.EnableRaisingEvents = true;
            tether.Exited += (_, _) => _ = powerOff(vm);
            guest._relay = Task.Run(guest.RelayAsync);
            return guest;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            if (!_tether.HasExited)
            {
                _tether.Kill();
            }

            _listener.Dispose();
            _tcp?.Dispose();
            try
            {
                await _relay.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }

            _tether.Dispose();
            _stop.Dispose();
        }

        private void Append(string? text)
        {
            lock (_output)
            {
                _output.AppendLine(text);
            }
        }

        private async Task RelayAsync()
        {
            using var serial = new NetworkStream(await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false), ownsSocket: true);
            var fromEndpoint = Task.Run(() => EndpointToTetherAsync(serial));
            var buffer = new byte[32 * 1024];
            while (!_stop.IsCancellationRequested)
            {
                var read = await serial.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                // The guest's bytes wait until the endpoint is there to take them.
                while (true)
                {
                    var tcp = await CurrentAsync().ConfigureAwait(false);
                    try
                    {
                        await tcp.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
                        break;
                    }
                    catch (IOException)
                    {
                        await Task.Delay(50, _stop.Token).ConfigureAwait(false);
                    }
                }
            }

            await fromEndpoint.ConfigureAwait(false);
        }

        /// <summary>Connects (again and again) to the endpoint and copies what it sends to the tether.</summary>
        private async Task EndpointToTetherAsync(NetworkStream serial)
        {
            var buffer = new byte[32 * 1024];
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client = new();
                try
                {
                    await client.ConnectAsync(_endpoint.Host, _endpoint.Port, _stop.Token).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    client.Dispose();
                    await Task.Delay(100, _stop.Token).ConfigureAwait(false);
                    continue;
                }

                _tcp = client.GetStream();
                try
                {
                    int read;
                    while ((read = await _tcp.ReadAsync(buffer, _stop.Token).ConfigureAwait(false)) > 0)
                    {
                        await serial.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
                    }
                }
                catch (IOException)
                {
                }

                // The endpoint went away: no connection until the next one is made.
                _tcp = null;
                client.Dispose();
            }
        }

        private async Task<NetworkStream> CurrentAsync()
        {
            while (true)
            {
                if (_tcp is { } tcp)
                {
                    return tcp;
                }

                await Task.Delay(20, _stop.Token).ConfigureAwait(false);
            }
        }
    }
}
