using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Vic.Backends.Conformance;
using Vic.Backends.Qemu;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.TestSupport;

// bench/containervm: a ContainerVM from nothing to its tether answering: cold boot, copy-on-write
// instant clone, and a clone that reads a full copy of the template's RAM (what every clone did before
// copy-on-write), medians over RUNS runs (default 10), on this machine's accelerator (TCG here).
// Goals: cold <= 3 s; copy-on-write clone <= 0.25x the full-copy clone; the tether's own start (exec
// to hello, by the guest's clock) <= 0.1 s. GUEST_CMDLINE replaces the guest kernel's command line.
var runs = int.Parse(Environment.GetEnvironmentVariable("RUNS") ?? "10", CultureInfo.InvariantCulture);
var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
using var home = new TempDirectory("bench-vm");
var options = new QemuBackendOptions(home.Combine("state"), kernel, initramfs, new VmResources(8, 8L << 30), InstantClone: true, Accelerator: Accelerator.Tcg)
{
    TemplateDirectory = home.Combine("templates"),
};
if (Environment.GetEnvironmentVariable("GUEST_CMDLINE") is { Length: > 0 } cmdline)
{
    options = options with { CommandLine = cmdline };
}
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(Environment.GetEnvironmentVariable("VERBOSE") is null ? LogLevel.Warning : LogLevel.Information));
using var backend = new QemuBackend(options, loggers.CreateLogger<QemuBackend>());
using var fullCopy = new QemuBackend(options with { StateDirectory = home.Combine("state-full"), CloneMemory = CloneMemory.FullCopy }, loggers.CreateLogger<QemuBackend>());
var layer = TestDisks.BusyboxLayer(home.Combine("disks"));
var resources = new VmResources(1, 256L << 20);

var template = Stopwatch.StartNew();
await Ready(await backend.CloneAsync(Spec("warm"), CancellationToken.None));
Console.WriteLine($"template build + first clone: {template.Elapsed.TotalSeconds:0.00} s (once per kernel/initramfs/size)");
await backend.DestroyAsync("warm", CancellationToken.None);

var cold = new List<double>();
var clone = new List<double>();
var full = new List<double>();
var scratch = new List<double>();
var tetherStart = new List<double>();
for (var i = 0; i < runs; i++)
{
    // The scratch disk is made before the clock starts: it is the image store's work, timed apart.
    var watch = Stopwatch.StartNew();
    var coldSpec = Spec($"cold{i}");
    scratch.Add(watch.Elapsed.TotalSeconds);
    var cloneSpec = Spec($"clone{i}");

    watch.Restart();
    var vm = await backend.CreateAsync(coldSpec, CancellationToken.None);
    await backend.PowerOnAsync(vm.VmId, CancellationToken.None);
    var hello = await Ready(vm);
    cold.Add(watch.Elapsed.TotalSeconds);
    tetherStart.Add(hello.SentAt - hello.StartedAt);

    // Each measurement runs alone: a second VM would share the two cores with the one timed.
    await backend.DestroyAsync(vm.VmId, CancellationToken.None);
    watch.Restart();
    await Ready(await backend.CloneAsync(cloneSpec, CancellationToken.None));
    clone.Add(watch.Elapsed.TotalSeconds);
    await backend.DestroyAsync($"clone{i}", CancellationToken.None);

    var fullSpec = Spec($"full{i}");
    watch.Restart();
    await Ready(await fullCopy.CloneAsync(fullSpec, CancellationToken.None), fullCopy);
    full.Add(watch.Elapsed.TotalSeconds);
    await fullCopy.DestroyAsync($"full{i}", CancellationToken.None);
}

// A ready clone (ReadyClonePool): made ahead of need once the last start is done, then asked for
// as a container with a network asks. Timed from the ask to its tether's answer, like the clones
// above; the pool is given time to refill before each ask.
using var pooled = new QemuBackend(options with { StateDirectory = home.Combine("state-ready"), ReadyClones = 1 }, loggers.CreateLogger<QemuBackend>());
await pooled.DestroyAsync((await pooled.CloneAsync(NetworkedSpec("ask"), CancellationToken.None)).VmId, CancellationToken.None);
var ready = new List<double>();
for (var i = 0; i < runs; i++)
{
    await Eventually.WaitForAsync(async () => (await pooled.DescribeAsync(CancellationToken.None)).Details.Any(d => d.Key == "Ready clones" && d.Value.StartsWith('1')), TimeSpan.FromSeconds(120));
    var readySpec = NetworkedSpec($"ready{i}");
    var watch = Stopwatch.StartNew();
    await Ready(await pooled.CloneAsync(readySpec, CancellationToken.None), pooled);
    ready.Add(watch.Elapsed.TotalSeconds);
    await pooled.DestroyAsync($"ready{i}", CancellationToken.None);
}

var coldMedian = Median(cold);
var cloneMedian = Median(clone);
Console.WriteLine($"cold boot to tether ready (median of {runs}): {coldMedian:0.000} s (goal <= 3 s)");
var fullMedian = Median(full);
Console.WriteLine($"instant clone (copy-on-write) to tether ready (median of {runs}): {cloneMedian:0.000} s");
Console.WriteLine($"instant clone reading a full copy of the template's RAM, same run: {fullMedian:0.000} s; copy-on-write/full copy: {cloneMedian / fullMedian:0.00}x (goal <= 0.25x)");
Console.WriteLine($"ratio cold/clone: {coldMedian / cloneMedian:0.0}x");
Console.WriteLine($"a ready clone (made ahead of need by the pool) to tether ready, same run (median of {runs}): {Median(ready):0.000} s; ready/full copy: {Median(ready) / fullMedian:0.00}x");
Console.WriteLine($"tether start on a cold boot, exec to hello by the guest's clock (median of {runs}): {Median(tetherStart):0.000} s (goal <= 0.1 s)");
Console.WriteLine($"scratch disk (empty ext4 in a VMDK, made beforehand): {Median(scratch) * 1000:0} ms median");
return 0;

ContainerVmSpec Spec(string id) => new(
    id,
    id,
    resources,
    [new DiskAttachment("layer0", layer, DiskRole.ImageLayer, true), new DiskAttachment("scratch", TestDisks.Scratch(home.Combine($"{id}.vmdk")), DiskRole.Scratch, false)],
    new Dictionary<string, string>());

ContainerVmSpec NetworkedSpec(string id) => Spec(id) with { Network = new VmNetworkSpec("02:42:ac:11:00:09", Outbound: true, []) };

async Task<HelloMessage> Ready(ContainerVm vm, QemuBackend? owner = null)
{
    var channel = await (owner ?? backend).OpenChannelAsync(vm.VmId, CancellationToken.None);
    await using (channel)
    {
        using var tether = new TetherConnection(channel);
        var greeting = await tether.AttachAndReadAsync(TimeSpan.FromSeconds(120), CancellationToken.None);
        return greeting.Hello ?? throw new InvalidOperationException($"{vm.VmId}: the tether runs a container already");
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted[sorted.Count / 2];
}
