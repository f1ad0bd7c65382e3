using System.Diagnostics;
using System.Globalization;
using Vic.TestSupport;

// bench/vsphere-ports: what a published port costs on vSphere, where the endpoint relays each
// connection over the ContainerVM's serial channel. One real guest (QEMU with the vSphere hardware)
// serves a file of MB megabytes with httpd; the same bytes are then read through the same channel as
// an exec's stdout and as docker cp's tar: the channel's own pace, measured in the same run.
var megabytes = int.Parse(Environment.GetEnvironmentVariable("MB") ?? "8", CultureInfo.InvariantCulture);
var runs = int.Parse(Environment.GetEnvironmentVariable("RUNS") ?? "3", CultureInfo.InvariantCulture);
const string Vch = "vch-ports";
await using var server = await Vcsim.StartAsync();
var session = new Vic.Vim25.VimSessionConfig(server.Sdk, Vcsim.User, Vcsim.Password, server.Thumbprint);
await using var guests = await SimulatedGuests.StartAsync(session, Vch, realVms: true);
await using var registry = await LocalRegistry.StartAsync();
await registry.SeedBusyboxAsync();
using var home = new TempDirectory("bench-vsphere-ports");
var apiPort = EndpointProcess.FreePort();
await using var endpoint = await EndpointProcess.StartAsync(apiPort, [
    "-H", $"tcp://127.0.0.1:{apiPort}", "--name", Vch, "--data-dir", home.Combine("data"), "--registry-mirror", $"http://{registry.Host}",
    "--backend", "vsphere", "--target", server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password, "--thumbprint", server.Thumbprint,
    "--datacenter", "DC0", "--compute-resource", "DC0/host/DC0_C0", "--image-store", server.Datastore, "--channel-address", "127.0.0.1",
    "--pool-cpu", "4", "--pool-memory", "4g", "--bridge-network", "VM Network", "--public-network", "VM Network",
    "--public-network-gateway", "10.20.0.1/24", "--public-network-ip-range", "10.20.0.64/26", "--public-network-dns", "10.20.0.2",
]);
var host = $"tcp://127.0.0.1:{apiPort}";
async Task<CommandResult> Docker(params string[] arguments)
{
    var result = await Command.DockerAsync(host, arguments);
    return result.ExitCode == 0 ? result : throw new InvalidOperationException($"docker {string.Join(' ', arguments)}: {result}\n{endpoint.Output}");
}

await Docker("pull", "busybox");
var port = EndpointProcess.FreePort();
await Docker("run", "-d", "--name", "server", "-p", $"127.0.0.1:{port}:80", "busybox", "sh", "-c", $"mkdir -p /srv && dd if=/dev/zero of=/srv/big bs=1M count={megabytes} 2>/dev/null && exec httpd -f -p 80 -h /srv");
using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
for (var ready = false; !ready;)
{
    try
    {
        ready = (await http.GetAsync($"http://127.0.0.1:{port}/big", HttpCompletionOption.ResponseHeadersRead)).IsSuccessStatusCode;
    }
    catch (HttpRequestException)
    {
        await Task.Delay(200);
    }
}

var times = new Dictionary<string, List<double>> { ["published port"] = [], ["exec cat"] = [], ["docker cp"] = [] };
for (var i = 0; i < runs; i++)
{
    var watch = Stopwatch.StartNew();
    var body = await http.GetByteArrayAsync($"http://127.0.0.1:{port}/big");
    times["published port"].Add(Check(body.LongLength, watch));
    watch.Restart();
    Console.WriteLine($"run {i + 1}: published port {times["published port"][^1]:0.00} s");
    var exec = await Command.RunAsync("sh", ["-c", $"docker -H {host} exec server cat /srv/big | wc -c"], timeout: TimeSpan.FromMinutes(10));
    times["exec cat"].Add(Check(long.Parse(exec.StandardOutput.Trim(), CultureInfo.InvariantCulture), watch));
    watch.Restart();
    Console.WriteLine($"run {i + 1}: exec cat {times["exec cat"][^1]:0.00} s");
    var copy = await Command.RunAsync("sh", ["-c", $"docker -H {host} cp server:/srv/big - | wc -c"], timeout: TimeSpan.FromMinutes(10));
    times["docker cp"].Add(Check(long.Parse(copy.StandardOutput.Trim(), CultureInfo.InvariantCulture) >= megabytes << 20 ? megabytes << 20 : 0, watch));
}

await Docker("rm", "-f", "server");
var reference = Median(times["exec cat"]);
foreach (var (path, seconds) in times)
{
    var median = Median(seconds);
    Console.WriteLine($"{path}: {megabytes} MB in {median:0.00} s ({megabytes / median:0.0} MB/s), {median / reference:0.00}x exec cat's time (median of {runs})");
}

return 0;

double Check(long bytes, Stopwatch watch) =>
    bytes == (long)megabytes << 20 ? watch.Elapsed.TotalSeconds : throw new InvalidOperationException($"{bytes} bytes arrived, not {megabytes} MB");

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted[sorted.Count / 2];
}
