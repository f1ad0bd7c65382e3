using System.Net;
using System.Net.Sockets;
using Vic.TestSupport;

namespace Vic.Nfs.Tests;

public sealed class NfsServerFixture : IAsyncLifetime
{
    public NfsServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await NfsServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>The NFSv4 client: golden call bytes, a real server (NFS-Ganesha), and a peer that misbehaves.</summary>
public sealed class NfsClientTests(NfsServerFixture fixture) : IClassFixture<NfsServerFixture>
{
    private Task<NfsClient> ConnectAsync() => NfsClient.ConnectAsync(IPAddress.Loopback, fixture.Server.Port, CancellationToken.None);

    [Fact]
    public async Task AMakeDirectoryCallIsTheGoldenCompound()
    {
        await using var listener = new SilentPeer();
        await using var client = await NfsClient.ConnectAsync(IPAddress.Loopback, listener.Port, CancellationToken.None);

        var bytes = client.CallBytes(7, [
            new NfsClient.Operation(24, "PUTROOTFH", _ => { }),
            new NfsClient.Operation(15, "LOOKUP", w => w.String("export")),
            new NfsClient.Operation(6, "CREATE", w => w.UInt32(2).String("v").UInt32(2).UInt32(0).UInt32(2).Opaque(new XdrWriter().UInt32(0x1ED).ToArray())),
        ]);

        // xid 7, CALL, RPC 2, program 100003 v4 procedure COMPOUND; AUTH_SYS (stamp 0, "vic", uid 0, gid 0, no gids), AUTH_NONE;
        // tag "", minor version 0, three ops: PUTROOTFH, LOOKUP "export", CREATE NF4DIR "v" with mode 0755.
        Assert.Equal(
            "000000070000000000000002000186a3000000040000000100000001000000180000000000000003766963000000000000000000000000000000000000000000000000000000000000000003"
            + "000000180000000f000000066578706f727400000000000600000002000000017600000000000002000000000000000200000004000001ed",
            Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public async Task FoldersAreMadeListedAndRemovedWithEverythingInThem()
    {
        await using var client = await ConnectAsync();
        var export = fixture.Server.ExportDirectory;

        await client.MakeDirectoriesAsync("/export/volumes/data/deep", 0x1ED, CancellationToken.None);
        await client.MakeDirectoriesAsync("/export/volumes/data", 0x1ED, CancellationToken.None);
        File.WriteAllText(Path.Combine(export, "volumes", "data", "file.txt"), "x");
        File.WriteAllText(Path.Combine(export, "volumes", "data", "deep", "inner.txt"), "y");
        var listed = await client.ListAsync("/export/volumes/data", CancellationToken.None);
        var mode = File.GetUnixFileMode(Path.Combine(export, "volumes", "data"));
        var existed = await client.ExistsAsync("/export/volumes/data", CancellationToken.None);

        await client.RemoveTreeAsync("/export/volumes/data", CancellationToken.None);
        await client.RemoveTreeAsync("/export/volumes/data", CancellationToken.None);
        var missing = await Assert.ThrowsAsync<NfsException>(() => client.ListAsync("/export/volumes/data", CancellationToken.None));

        Assert.Equal([new NfsEntry("deep", true), new NfsEntry("file.txt", false)], listed.OrderBy(e => e.Name));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, mode);
        Assert.True(existed);
        Assert.False(Directory.Exists(Path.Combine(export, "volumes", "data")));
        Assert.True(Directory.Exists(Path.Combine(export, "volumes")));
        Assert.Equal(NfsException.NoEntry, missing.Status);
        Assert.False(await client.ExistsAsync("/export/volumes/data", CancellationToken.None));
    }

    [Fact]
    public async Task AFolderWithManyEntriesIsListedAcrossReaddirCalls()
    {
        await using var client = await ConnectAsync();
        await client.MakeDirectoriesAsync("/export/many", 0x1ED, CancellationToken.None);
        for (var i = 0; i < 600; i++)
        {
            File.WriteAllText(Path.Combine(fixture.Server.ExportDirectory, "many", $"a-rather-long-file-name-to-fill-pages-{i:D4}"), "");
        }

        var listed = await client.ListAsync("/export/many", CancellationToken.None);
        await client.RemoveTreeAsync("/export/many", CancellationToken.None);

        Assert.Equal(600, listed.Count);
        Assert.Equal(600, listed.Select(e => e.Name).Distinct().Count());
        Assert.False(Directory.Exists(Path.Combine(fixture.Server.ExportDirectory, "many")));
    }

    [Fact]
    public async Task GarbageAClosedConnectionAndAStallAreErrorsNotHangs()
    {
        await using var garbage = new SilentPeer(answer: [0x80, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        await using var closing = new SilentPeer(close: true);
        await using var stalled = new SilentPeer();

        await using var toGarbage = await NfsClient.ConnectAsync(IPAddress.Loopback, garbage.Port, CancellationToken.None);
        await using var toClosing = await NfsClient.ConnectAsync(IPAddress.Loopback, closing.Port, CancellationToken.None);
        await using var toStalled = await NfsClient.ConnectAsync(IPAddress.Loopback, stalled.Port, CancellationToken.None);
        var stalledClient = new NfsClientWithTimeout(toStalled);

        await Assert.ThrowsAsync<NfsProtocolException>(() => toGarbage.ExistsAsync("/export", CancellationToken.None));
        await Assert.ThrowsAsync<EndOfStreamException>(() => toClosing.ExistsAsync("/export", CancellationToken.None));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stalledClient.ExistsAsync("/export"));
        await Assert.ThrowsAnyAsync<SocketException>(() => NfsClient.ConnectAsync(IPAddress.Loopback, EndpointProcess.FreePort(), CancellationToken.None));
    }

    /// <summary>A stalled call ends at the caller's deadline.</summary>
    private sealed class NfsClientWithTimeout(NfsClient client)
    {
        public async Task<bool> ExistsAsync(string path)
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            return await client.ExistsAsync(path, limit.Token);
        }
    }

    /// <summary>A TCP peer that accepts and then answers fixed bytes, closes, or says nothing.</summary>
    private sealed class SilentPeer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<TcpClient> _accepted = [];
        private readonly Task _serving;

        public SilentPeer(byte[]? answer = null, bool close = false)
        {
            _listener.Start();
            _serving = Task.Run(async () =>
            {
                try
                {
                    var client = await _listener.AcceptTcpClientAsync();
                    _accepted.Add(client);
                    var buffer = new byte[4096];
                    _ = await client.GetStream().ReadAsync(buffer);
                    if (close)
                    {
                        client.Close();
                    }
                    else if (answer is not null)
                    {
                        await client.GetStream().WriteAsync(answer);
                    }
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
                {
                }
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _serving;
            _accepted.ForEach(c => c.Dispose());
        }
    }
}
