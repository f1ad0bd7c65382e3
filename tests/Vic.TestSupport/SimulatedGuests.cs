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
    private readonly ConcurrentDictionary<string, Guest> _guests = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watching;

    private SimulatedGuests(VimSession session, string vch)
    {
        _session = session;
        _vch = vch;
        _watching = Task.Run(WatchAsync);
    }

    /// <summary>Every tether started so far and what it printed, for failing tests to show.</summary>
    public string Output => string.Join('\n', _guests.Select(g => $"{g.Key}: {g.Value.Output}"));

    public static async Task<SimulatedGuests> StartAsync(VimSessionConfig config, string vch)
    {
        await BootImages.EnsureBuiltAsync().ConfigureAwait(false);
        var session = await VimSession.ConnectAsync(config, NullLogger.Instance, CancellationToken.None).ConfigureAwait(false);
        return new SimulatedGuests(session, vch);
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
                var vms = await _session.ListAsync("VirtualMachine", ["runtime.powerState", "config.extraConfig", "config.hardware.device"], _stop.Token).ConfigureAwait(false);
                var on = new HashSet<string>();
                foreach (var vm in vms)
                {
                    var extra = VirtualMachines.ExtraConfigOf(vm.Properties.GetValueOrDefault("config.extraConfig"));
                    if (extra.GetValueOrDefault("vic.vch") != _vch || vm.Text("runtime.powerState") != "poweredOn")
                    {
                        continue;
                    }

                    on.Add(vm.Obj.Value);
                    var serial = vm.Properties.GetValueOrDefault("config.hardware.device")?.Elements().Select(DeviceInfo.Parse).FirstOrDefault(d => d.Type == "VirtualSerialPort")?.ServiceUri;
                    if (serial is not null && !_guests.ContainsKey(vm.Obj.Value))
                    {
                        _guests[vm.Obj.Value] = Guest.Start(vm.Obj, new Uri(serial), Path.Combine(_home.Path, vm.Obj.Value), PowerOffAsync);
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

    /// <summary>One powered-on VM: its tether and the serial line between it and the endpoint.</summary>
    private sealed class Guest : IAsyncDisposable
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
