using System.Text;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;

namespace Vic.PortLayer.Tests;

/// <summary>A container's log file as json-file keeps it: rotated at max-size into max-file files, or not kept (none).</summary>
public sealed class ContainerLogTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ALogOnAFullDiskLosesWhatItCannotWriteAndStillFeedsItsReaders()
    {
        // /dev/full answers every write with ENOSPC, as a full datastore does.
        using var log = new ContainerLog("/dev/full");
        log.Open();
        var reader = log.Subscribe();

        log.Append(OutputStream.Stdout, "one\n"u8, DateTimeOffset.UnixEpoch);
        log.Append(OutputStream.Stderr, "two\n"u8, DateTimeOffset.UnixEpoch);
        log.Close();
        var read = new List<string>();
        await foreach (var chunk in reader.ReadAllAsync())
        {
            read.Add(Encoding.UTF8.GetString(chunk.Data));
        }

        Assert.Equal(["one\n", "two\n"], read);
        Assert.Equal(8, log.LostBytes);
    }

    [Fact]
    public void ALogRotatedAtMaxSizeKeepsMaxFileFilesAndReadsBackTheNewestInOrder()
    {
        var settings = LogSettings.Parse("json-file", new Dictionary<string, string> { ["max-size"] = "1k", ["max-file"] = "3" });
        var path = _dir.File("container.log");
        using (var log = new ContainerLog(path, settings))
        {
            for (var i = 0; i < 100; i++)
            {
                log.Append(OutputStream.Stdout, Encoding.UTF8.GetBytes($"line {i:000}\n"), DateTimeOffset.UnixEpoch);
            }
        }

        using var reread = new ContainerLog(path, settings);
        var lines = reread.ReadAll().Select(c => Encoding.UTF8.GetString(c.Data).Trim()).ToList();

        Assert.True(new FileInfo(path).Length <= 1024);
        Assert.True(File.Exists(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
        Assert.Equal("line 099", lines[^1]);
        Assert.True(lines.Count is > 20 and < 100, $"{lines.Count} lines kept");
        Assert.Equal(Enumerable.Range(100 - lines.Count, lines.Count).Select(i => $"line {i:000}"), lines);
    }

    [Fact]
    public void TheNoneDriverKeepsNothingButLiveReadersStillGetTheOutput()
    {
        var path = _dir.File("none.log");
        using var log = new ContainerLog(path, LogSettings.Parse("none", new Dictionary<string, string>()));
        var live = log.Subscribe();
        log.Append(OutputStream.Stderr, "seen live"u8, DateTimeOffset.UnixEpoch);

        Assert.True(live.TryRead(out var chunk));
        Assert.Equal("seen live", Encoding.UTF8.GetString(chunk.Data));
        Assert.False(File.Exists(path));
        Assert.Empty(log.ReadAll());
    }

    [Fact]
    public void TheLocalDriverRotatesAsDockerdsDoesByDefault()
    {
        var settings = LogSettings.Parse("local", new Dictionary<string, string>());

        Assert.Equal((20L << 20, 5), (settings.MaxSizeBytes, settings.MaxFiles));
    }
}
