using System.Security.Cryptography;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// Payloads at the sizes users send: a 200 MB file through <c>docker import</c>, <c>docker save</c>
/// and <c>docker load</c>, and <c>docker cp</c> into and out of a running ContainerVM, while the
/// endpoint's resident memory is watched: bodies stream, they are never held whole.
/// </summary>
public sealed class LargePayloadTests(QemuVchFixture fixture) : IClassFixture<QemuVchFixture>, IDisposable
{
    private const int PayloadBytes = 200 * 1024 * 1024;

    private readonly TempDirectory _work = new("vch-large");

    private QemuVch Vch => fixture.Vch;

    [Fact]
    public async Task ImportSaveLoadAndCopyOfA200MegabyteFileKeepTheBytesAndTheEndpointsMemoryFlat()
    {
        var blob = _work.Combine("root", "data", "blob");
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        var content = new byte[PayloadBytes];
        new Random(20261203).NextBytes(content); // incompressible, as real payloads often are
        await File.WriteAllBytesAsync(blob, content);
        var expected = Convert.ToHexString(SHA256.HashData(content));
        content = [];
        // Debian's static busybox (busybox-static) makes the image runnable, to check the file inside it.
        Directory.CreateDirectory(_work.Combine("root", "bin"));
        File.Copy("/bin/busybox", _work.Combine("root", "bin", "busybox"));
        var rootfs = _work.Combine("rootfs.tar");
        await Command.RunAsync("tar", ["-C", _work.Combine("root"), "-cf", rootfs, "."]);

        using var memory = new PeakMemory(() => Vch.Endpoint.ResidentBytes);
        await Vch.DockerAsync("import", rootfs, "large:1");
        await Vch.DockerAsync("save", "-o", _work.Combine("saved.tar"), "large:1");
        await Vch.DockerAsync("rmi", "large:1");
        var load = await Vch.DockerAsync("load", "-i", _work.Combine("saved.tar"));
        var fromImage = (await Vch.DockerAsync("run", "--rm", "large:1", "/bin/busybox", "sha256sum", "/data/blob")).StandardOutput;
        await Vch.DockerAsync("run", "-d", "--name", "large-cp", "busybox", "sleep", "600");
        await Vch.DockerAsync("cp", blob, "large-cp:/blob");
        var inContainer = (await Vch.DockerAsync("exec", "large-cp", "sha256sum", "/blob")).StandardOutput;
        await Vch.DockerAsync("cp", "large-cp:/blob", _work.Combine("back"));
        var peak = memory.Stop();
        await Vch.DockerAsync("rm", "-f", "large-cp");
        await Vch.DockerAsync("rmi", "large:1");

        Assert.Contains("Loaded image: large:1", load.StandardOutput, StringComparison.Ordinal);
        Assert.StartsWith(expected.ToLowerInvariant(), fromImage, StringComparison.Ordinal);
        Assert.StartsWith(expected.ToLowerInvariant(), inContainer, StringComparison.Ordinal);
        Assert.Equal(expected, Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(_work.Combine("back")))));
        // 800 MB crossed the API; the endpoint grew by less than half of one payload.
        Assert.True(peak.Growth < PayloadBytes / 2, $"endpoint RSS grew {peak.Growth / 1048576} MiB (from {peak.Baseline / 1048576} MiB)");
    }

    public void Dispose() => _work.Dispose();

    /// <summary>Samples a process's resident memory every 100 ms until stopped.</summary>
    private sealed class PeakMemory : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<long> _sampler;

        public PeakMemory(Func<long> resident)
        {
            Baseline = resident();
            _sampler = Task.Run(async () =>
            {
                var peak = Baseline;
                while (!_stop.IsCancellationRequested)
                {
                    peak = Math.Max(peak, resident());
                    await Task.Delay(100).ConfigureAwait(false);
                }

                return peak;
            });
        }

        public long Baseline { get; }

        public (long Baseline, long Growth) Stop()
        {
            _stop.Cancel();
            return (Baseline, _sampler.GetAwaiter().GetResult() - Baseline);
        }

        public void Dispose() => _stop.Dispose();
    }
}
