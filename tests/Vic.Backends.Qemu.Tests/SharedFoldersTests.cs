using System.Net.Sockets;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;
using Vic.TestSupport;

namespace Vic.Backends.Qemu.Tests;

/// <summary>The virtiofs daemons behind host binds, run for real (Debian's virtiofsd), without a VM.</summary>
public sealed class SharedFoldersTests : IDisposable
{
    private const string Daemon = "/usr/lib/qemu/virtiofsd";
    private readonly TempDirectory _dir = new("shares");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ASocketCountsAsListeningOnlyOnceItListensNotWhenBound()
    {
        var path = _dir.Combine("probe.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

        var beforeBind = SharedFolders.IsListening(path);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        var bound = SharedFolders.IsListening(path);
        socket.Listen();
        var listening = SharedFolders.IsListening(path);

        Assert.False(beforeBind);
        Assert.False(bound);
        Assert.True(listening);
    }

    [Fact]
    public async Task EachShareGetsADaemonListeningInTheVmFolderUntilStopped()
    {
        var folder = new VmFolder(Directory.CreateDirectory(_dir.Combine("vm")).FullName);
        var shares = new[] { new SharedFolder("vic-bind-0", Directory.CreateDirectory(_dir.Combine("a")).FullName, false, false), new SharedFolder("vic-bind-1", Directory.CreateDirectory(_dir.Combine("b")).FullName, true, false) };

        await SharedFolders.StartAsync(Daemon, folder, shares, CancellationToken.None);
        var pids = Directory.GetFiles(folder.Path, "fs-*.pid").Order().Select(f => int.Parse(File.ReadAllText(f), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var cmdlines = pids.Select(p => File.ReadAllText($"/proc/{p}/cmdline").Replace('\0', ' ')).ToList();
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            probe.Connect(new UnixDomainSocketEndPoint(Path.Combine(folder.Path, "fs-1.sock")));
        }

        SharedFolders.Stop(folder);
        await Task.Delay(200);

        Assert.Equal(2, pids.Count);
        Assert.Contains($"source={shares[0].HostPath}", cmdlines[0], StringComparison.Ordinal);
        Assert.Contains($"source={shares[1].HostPath}", cmdlines[1], StringComparison.Ordinal);
        Assert.All(pids, p => Assert.False(IsLive(p)));
        Assert.Empty(Directory.GetFiles(folder.Path, "fs-*.pid"));
    }

    [Fact]
    public async Task ADaemonThatCannotStartIsReportedWithWhatItSaid()
    {
        var folder = new VmFolder(Directory.CreateDirectory(_dir.Combine("vm")).FullName);
        var share = new SharedFolder("vic-bind-0", _dir.Combine("not-there"), false, false);

        var failure = await Assert.ThrowsAsync<QemuException>(() => SharedFolders.StartAsync(Daemon, folder, [share], CancellationToken.None));

        Assert.Contains($"virtiofsd could not share {share.HostPath}", failure.Message, StringComparison.Ordinal);
        Assert.Contains("source", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PrepareMakesAMissingFolderOnlyWhereAsked()
    {
        var made = new SharedFolder("vic-bind-0", _dir.Combine("made", "deep"), false, CreateIfMissing: true);
        var refused = new SharedFolder("vic-bind-1", _dir.Combine("refused"), false, CreateIfMissing: false);

        SharedFolders.Prepare(made);
        var error = Assert.Throws<PortLayerException>(() => SharedFolders.Prepare(refused));

        Assert.True(Directory.Exists(made.HostPath));
        Assert.Equal("invalid mount config for type \"bind\": bind source path does not exist: " + refused.HostPath, error.Message);
        Assert.Throws<PortLayerException>(() => SharedFolders.Prepare(made with { Tag = "bad tag" }));
        Assert.Throws<PortLayerException>(() => SharedFolders.Prepare(made with { HostPath = "relative/path" }));
    }

    private static bool IsLive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
