using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Microsoft.Data.Sqlite;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Tests;

public sealed class VchStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public static TheoryData<RecordKind> Kinds => new(Enum.GetValues<RecordKind>());

    private string DbPath => _dir.File("vch.db");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void AFullStoreRefusesAWriteWithNoSpaceLeftAndKeepsWhatItHad()
    {
        using var store = VchStore.Open(DbPath);
        store.Put(RecordKind.Container, "kept", "kept", """{"n":1}""");
        store.HoldToSize(morePages: 2);

        var full = Assert.Throws<IOException>(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                store.Put(RecordKind.Container, $"big{i}", $"big{i}", new string('x', 64 * 1024));
            }
        });
        var written = store.List(RecordKind.Container).Select(r => r.Id).ToList();
        var forgotten = store.Delete(RecordKind.Container, "kept");

        Assert.StartsWith("no space left on device: the VCH's store could not record the container big", full.Message, StringComparison.Ordinal);
        Assert.IsType<SqliteException>(full.InnerException);
        Assert.Contains("kept", written);
        var refused = System.Text.RegularExpressions.Regex.Match(full.Message, @"container (big\d+) ").Groups[1].Value;
        Assert.DoesNotContain(refused, written);
        Assert.True(forgotten);
        Assert.All(written.Where(id => id != "kept"), id => Assert.Equal(64 * 1024, store.Get(RecordKind.Container, id)!.Body.Length));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void PutGetListDeleteAndCountWorkPerKind(RecordKind kind)
    {
        using var store = VchStore.Open(DbPath);
        var others = Enum.GetValues<RecordKind>().Where(k => k != kind).ToList();

        store.Put(kind, "b", "bravo", """{"n":2}""");
        store.Put(kind, "a", null, """{"n":1}""");
        store.Put(kind, "c", "charlie", """{"n":3}""");

        Assert.Equal(new StoredRecord("a", null, """{"n":1}"""), store.Get(kind, "a"));
        Assert.Equal(new StoredRecord("b", "bravo", """{"n":2}"""), store.Get(kind, "b"));
        Assert.Null(store.Get(kind, "missing"));
        Assert.Equal(["b", "a", "c"], store.List(kind).Select(r => r.Id));
        Assert.Equal(3, store.Count(kind));

        // Each kind is its own collection.
        Assert.All(others, k => Assert.Null(store.Get(k, "a")));
        Assert.All(others, k => Assert.Empty(store.List(k)));
        Assert.All(others, k => Assert.Equal(0, store.Count(k)));
        Assert.All(others, k => Assert.False(store.Delete(k, "a")));

        Assert.True(store.Delete(kind, "a"));
        Assert.False(store.Delete(kind, "a"));
        Assert.Null(store.Get(kind, "a"));
        Assert.Equal(["b", "c"], store.List(kind).Select(r => r.Id));
        Assert.Equal(2, store.Count(kind));
    }

    [Fact]
    public void TheSameIdInTwoKindsIsTwoRecords()
    {
        using var store = VchStore.Open(DbPath);

        store.Put(RecordKind.Container, "x", "x", "container");
        store.Put(RecordKind.Volume, "x", "x", "volume");

        Assert.Equal("container", store.Get(RecordKind.Container, "x")!.Body);
        Assert.Equal("volume", store.Get(RecordKind.Volume, "x")!.Body);
        Assert.True(store.Delete(RecordKind.Volume, "x"));
        Assert.NotNull(store.Get(RecordKind.Container, "x"));
    }

    [Fact]
    public void PutOfAnExistingIdReplacesNameAndBodyInPlace()
    {
        using var store = VchStore.Open(DbPath);
        store.Put(RecordKind.Container, "1", "old", "v1");
        store.Put(RecordKind.Container, "2", "other", "v1");

        store.Put(RecordKind.Container, "1", "new", "v2");

        Assert.Equal(new StoredRecord("1", "new", "v2"), store.Get(RecordKind.Container, "1"));
        Assert.Equal(2, store.Count(RecordKind.Container));
        Assert.Equal(["1", "2"], store.List(RecordKind.Container).Select(r => r.Id));

        // The old name was given up, and a name may be dropped altogether.
        store.Put(RecordKind.Container, "3", "old", "v1");
        store.Put(RecordKind.Container, "1", null, "v3");
        Assert.Equal(new StoredRecord("1", null, "v3"), store.Get(RecordKind.Container, "1"));
        store.Put(RecordKind.Container, "4", "new", "v1");
    }

    [Fact]
    public void ANameIsUniqueWithinItsKindOnly()
    {
        using var store = VchStore.Open(DbPath);
        store.Put(RecordKind.Container, "1", "web", "first");

        var error = Assert.Throws<SqliteException>(() => store.Put(RecordKind.Container, "2", "web", "second"));

        Assert.Equal(19, error.SqliteErrorCode); // SQLITE_CONSTRAINT
        Assert.Null(store.Get(RecordKind.Container, "2"));
        Assert.Equal("first", store.Get(RecordKind.Container, "1")!.Body);

        store.Put(RecordKind.Volume, "2", "web", "a volume may share it");
        store.Put(RecordKind.Container, "3", null, "unnamed");
        store.Put(RecordKind.Container, "4", null, "unnamed too");
        Assert.Equal(3, store.Count(RecordKind.Container));
        Assert.Equal("ok", store.CheckIntegrity());
    }

    [Fact]
    public void AFreshStoreIsSoundAndEmpty()
    {
        using var store = VchStore.Open(_dir.File("sub/dir/vch.db"));

        Assert.Equal("ok", store.CheckIntegrity());
        Assert.Equal(_dir.File("sub/dir/vch.db"), store.Path);
        Assert.True(File.Exists(_dir.File("sub/dir/vch.db")));
        Assert.All(Enum.GetValues<RecordKind>(), k => Assert.Equal(0, store.Count(k)));
    }

    [Fact]
    public void WhatWasWrittenIsThereAfterReopening()
    {
        using (var store = VchStore.Open(DbPath))
        {
            foreach (var kind in Enum.GetValues<RecordKind>())
            {
                for (var i = 0; i < 20; i++)
                {
                    store.Put(kind, $"{kind}-{i}", $"n{i}", $"body {kind} {i}");
                }

                store.Delete(kind, $"{kind}-7");
            }
        }

        using var reopened = VchStore.Open(DbPath);
        Assert.Equal("ok", reopened.CheckIntegrity());
        foreach (var kind in Enum.GetValues<RecordKind>())
        {
            Assert.Equal(19, reopened.Count(kind));
            Assert.Null(reopened.Get(kind, $"{kind}-7"));
            Assert.Equal(new StoredRecord($"{kind}-12", "n12", $"body {kind} 12"), reopened.Get(kind, $"{kind}-12"));
        }

        // The unique names survive too.
        Assert.Throws<SqliteException>(() => reopened.Put(RecordKind.Image, "other", "n3", "dup"));
    }

    [Fact]
    public void AStoreWrittenByANewerSchemaIsRefused()
    {
        using (var store = VchStore.Open(DbPath))
        {
            store.Put(RecordKind.Image, "i", "busybox", "{}");
        }

        using (var connection = new SqliteConnection($"Data Source={DbPath};Pooling=false"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 99;";
            command.ExecuteNonQuery();
        }

        var error = Assert.Throws<InvalidOperationException>(() => VchStore.Open(DbPath));
        Assert.Contains("newer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACollectionStoresTypedValuesAsCamelCaseJson()
    {
        using var store = VchStore.Open(DbPath);
        var volumes = store.Collection<VolumeDoc>(RecordKind.Volume);

        volumes.Put("v1", "data", new VolumeDoc("data", 10, ["a", "b"]));
        volumes.Put("v2", null, new VolumeDoc("scratch", 1, []));

        Assert.Equal(new VolumeDoc("data", 10, ["a", "b"]).ToString(), volumes.Get("v1")!.ToString());
        Assert.Equal(["data", "scratch"], volumes.List().Select(v => v.Name));
        Assert.Null(volumes.Get("missing"));
        Assert.Equal("""{"name":"data","sizeGb":10,"tags":["a","b"]}""", store.Get(RecordKind.Volume, "v1")!.Body);
        Assert.True(volumes.Delete("v1"));
        Assert.Equal(1, store.Count(RecordKind.Volume));
        Assert.Empty(store.Collection<VolumeDoc>(RecordKind.Network).List());
    }

    /// <summary>
    /// Runs Vic.StoreTorture, which acknowledges each write on stdout only after the store returned,
    /// and SIGKILLs it at a random point after some hundreds of acknowledgements; five times over.
    /// </summary>
    /// <remarks>
    /// All rounds write to the same file, so rounds 2-5 start from a store that was itself recovered
    /// after a SIGKILL, which is what a restarted VCH meets. The program starts from record 0 every
    /// time and writes the same content for the same id, so the store is checked after each round,
    /// before the next one could re-write (and so hide the loss of) anything.
    /// </remarks>
    [Fact]
    public async Task KillNineLosesNoAcknowledgedWrite()
    {
        var dll = StoreTortureDll();
        var db = _dir.File("torture.db");
        var expected = new Dictionary<int, Presence>();
        var random = new Random();
        var rounds = new List<string>();

        for (var round = 1; round <= 5; round++)
        {
            var killAfter = random.Next(200, 1200);
            var jitter = TimeSpan.FromMicroseconds(random.Next(0, 3000));
            var lastAck = await RunAndKillAsync(dll, db, killAfter, jitter);
            rounds.Add($"round {round}: killed {jitter.TotalMicroseconds} µs after ack {killAfter}, last ack read {lastAck}");
            Assert.True(lastAck >= killAfter, string.Join("\n", rounds));

            Expect(expected, lastAck);
            Verify(db, expected, string.Join("\n", rounds));
        }
    }

    private enum Presence
    {
        Present,
        Absent,
        Either,
    }

    /// <summary>
    /// What the store must hold once the program acknowledged records 0..<paramref name="lastAck"/>.
    /// Iteration i puts record i and, when i % 3 == 2, deletes record i - 1; then it acknowledges i.
    /// Iteration lastAck + 1 may have run in part when the kill landed.
    /// </summary>
    private static void Expect(Dictionary<int, Presence> expected, int lastAck)
    {
        for (var i = 0; i <= lastAck; i++)
        {
            var deletedBy = i % 3 == 1 ? i + 1 : -1;
            expected[i] = deletedBy < 0 ? Presence.Present
                : deletedBy <= lastAck ? Presence.Absent
                : Presence.Either;
        }

        // The put of the unacknowledged record may or may not have landed; if the record was there
        // before (an earlier round), the put wrote the same content again.
        var inFlight = lastAck + 1;
        if (expected.GetValueOrDefault(inFlight, Presence.Absent) != Presence.Present)
        {
            expected[inFlight] = Presence.Either;
        }
    }

    private static void Verify(string db, Dictionary<int, Presence> expected, string context)
    {
        using var store = VchStore.Open(db);
        Assert.Equal("ok", store.CheckIntegrity());

        var found = new HashSet<int>();
        foreach (var kind in Enum.GetValues<RecordKind>())
        {
            var records = store.List(kind);
            Assert.Equal(records.Count, store.Count(kind));
            foreach (var record in records)
            {
                var seq = int.Parse(record.Id, CultureInfo.InvariantCulture);
                Assert.True(found.Add(seq), $"record {record.Id} is stored twice\n{context}");
                Assert.Equal((RecordKind)(seq % 5), kind);
                Assert.Equal($"name-{record.Id}", record.Name);
                Assert.Equal($$"""{"seq":{{seq}},"pad":"{{new string('x', 2048)}}"}""", record.Body);
                Assert.True(
                    expected.TryGetValue(seq, out var presence) && presence != Presence.Absent,
                    $"record {seq} is in the store although its delete was acknowledged (or it was never written)\n{context}");
            }
        }

        var lost = expected.Where(p => p.Value == Presence.Present && !found.Contains(p.Key)).Select(p => p.Key).ToList();
        Assert.True(lost.Count == 0, $"acknowledged records missing: {string.Join(", ", lost.Take(20))}\n{context}");
    }

    /// <summary>
    /// Starts the torture program, SIGKILLs it <paramref name="jitter"/> after reading ack <paramref name="killAfter"/>
    /// (so the kill lands anywhere in a write), and returns the last ack it printed.
    /// </summary>
    private static async Task<int> RunAndKillAsync(string dll, string db, int killAfter, TimeSpan jitter)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add(db);

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start Vic.StoreTorture");
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            var lastAck = -1;
            while (lastAck < killAfter)
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
                if (line is null)
                {
                    Assert.Fail($"Vic.StoreTorture ended by itself after ack {lastAck}: {await stderr}");
                }

                lastAck = NextAck(line, lastAck);
            }

            var wait = Stopwatch.StartNew();
            while (wait.Elapsed < jitter)
            {
                Thread.SpinWait(10);
            }

            // Process.Kill is SIGKILL on Linux: no handler, no flush, no disposal runs.
            process.Kill();

            // Every ack written before the kill is still in the pipe. Only whole lines count: an ack
            // cut short was not finished, so its write counts as unacknowledged (the safe reading).
            var rest = await process.StandardOutput.ReadToEndAsync(timeout.Token);
            var complete = rest[..(rest.LastIndexOf('\n') + 1)];
            foreach (var line in complete.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                lastAck = NextAck(line, lastAck);
            }

            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(128 + 9, process.ExitCode);
            return lastAck;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static int NextAck(string line, int previous)
    {
        var expected = $"ack {previous + 1}";
        Assert.True(line == expected, $"expected \"{expected}\" from Vic.StoreTorture, read \"{line}\"");
        return previous + 1;
    }

    /// <summary>
    /// The build records where it put Vic.StoreTorture.dll (see the test project file); a copy beside
    /// the tests is taken too.
    /// </summary>
    private static string StoreTortureDll()
    {
        var recorded = typeof(VchStoreTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "StoreTortureDll")?.Value;
        var beside = Path.Combine(AppContext.BaseDirectory, "Vic.StoreTorture.dll");
        var found = new[] { recorded, beside }.FirstOrDefault(File.Exists);
        Assert.True(found is not null, $"Vic.StoreTorture.dll is neither at '{recorded}' nor at '{beside}'");
        return found;
    }

    /// <summary>The dotnet host running these tests (the CLI sets DOTNET_HOST_PATH), else the one on PATH.</summary>
    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        return Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    private sealed record VolumeDoc(string Name, int SizeGb, string[] Tags)
    {
        public override string ToString() => $"{Name} {SizeGb} [{string.Join(",", Tags)}]";
    }
}
