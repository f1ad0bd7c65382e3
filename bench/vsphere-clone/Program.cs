using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Backends.Conformance;
using Vic.Backends.Vsphere;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.TestSupport;

// bench/vsphere-clone: a ContainerVM on vSphere from nothing to its tether answering, on the
// project's simulator with every guest a QEMU VM of the vSphere hardware: an instant clone of the
// VCH's running parent, a linked clone of its template (which boots the ISO), a cold boot; medians
// over RUNS runs (default 5), each VM timed alone. The parent's own boot is paid once per VCH.
var runs = int.Parse(Environment.GetEnvironmentVariable("RUNS") ?? "5", CultureInfo.InvariantCulture);
const string Vch = "vch-bench";
await using var server = await Vcsim.StartAsync();
var session = new Vic.Vim25.VimSessionConfig(server.Sdk, Vcsim.User, Vcsim.Password, server.Thumbprint);
await using var guests = await SimulatedGuests.StartAsync(session, Vch, realVms: true);
using var home = new TempDirectory("bench-vsphere");
var layer = TestDisks.BusyboxLayer(home.Combine("disks"));
var resources = new VmResources(1, 256L << 20);
VsphereBackend Backend(string state, bool instant) => new(
    new VsphereBackendOptions(session, "DC0", "DC0/host/DC0_C0", Vch, server.Datastore, IPAddress.Loopback, new VmResources(4, 4L << 30)) { InstantClone = instant },
    home.Combine(state),
    NullLogger<VsphereBackend>.Instance);
await using var instant = Backend("instant", instant: true);
await using var linked = Backend("linked", instant: false);

var first = Stopwatch.StartNew();
await Ready(instant, await instant.CloneAsync(Spec("warm-instant"), CancellationToken.None));
Console.WriteLine($"parent boot + first instant clone: {first.Elapsed.TotalSeconds:0.00} s (once per VCH)");
await instant.DestroyAsync("warm-instant", CancellationToken.None);
first.Restart();
await Ready(linked, await linked.CloneAsync(Spec("warm-linked"), CancellationToken.None));
Console.WriteLine($"template + first linked clone: {first.Elapsed.TotalSeconds:0.00} s (once per VCH)");
await linked.DestroyAsync("warm-linked", CancellationToken.None);

var times = new Dictionary<string, List<double>> { ["instant"] = [], ["linked"] = [], ["cold"] = [] };
for (var i = 0; i < runs; i++)
{
    foreach (var path in times.Keys)
    {
        var spec = Spec($"{path}{i}");
        var backend = path == "instant" ? instant : linked;
        var watch = Stopwatch.StartNew();
        var vm = path == "cold" ? await backend.CreateAsync(spec, CancellationToken.None) : await backend.CloneAsync(spec, CancellationToken.None);
        if (path == "cold")
        {
            await backend.PowerOnAsync(vm.VmId, CancellationToken.None);
        }

        await Ready(backend, vm);
        times[path].Add(watch.Elapsed.TotalSeconds);
        await backend.DestroyAsync(vm.VmId, CancellationToken.None);
    }
}

var cold = Median(times["cold"]);
Console.WriteLine($"instant clone to tether ready (median of {runs}): {Median(times["instant"]):0.000} s, {Median(times["instant"]) / cold:0.00}x the cold boot");
Console.WriteLine($"linked clone to tether ready (median of {runs}): {Median(times["linked"]):0.000} s, {Median(times["linked"]) / cold:0.00}x the cold boot");
Console.WriteLine($"cold boot to tether ready (median of {runs}): {cold:0.000} s");
return 0;

ContainerVmSpec Spec(string id) => new(
    id,
    id,
    resources,
    [new DiskAttachment("layer0", layer, DiskRole.ImageLayer, true), new DiskAttachment("scratch", TestDisks.Scratch(home.Combine($"{id}.vmdk")), DiskRole.Scratch, false)],
    new Dictionary<string, string>());

async Task Ready(VsphereBackend backend, ContainerVm vm)
{
    var channel = await backend.OpenChannelAsync(vm.VmId, CancellationToken.None);
    await using (channel)
    {
        using var tether = new TetherConnection(channel);
        await tether.AttachAndReadAsync(TimeSpan.FromSeconds(120), CancellationToken.None);
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted[sorted.Count / 2];
}
