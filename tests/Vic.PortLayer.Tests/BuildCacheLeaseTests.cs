using Vic.ImageStore.Archive;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Images;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>A <c>docker builder prune</c> while a build runs leaves alone what that build made and builds on.</summary>
public sealed class BuildCacheLeaseTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task APruneDuringABuildKeepsItsStepsAndTheCacheItTookThenFreesThemAfter()
    {
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(2, 2L << 30), null, RegistryConfig.Default), TimeProvider.System);
        using var emptyTar = new MemoryStream(new byte[1024]);
        var baseImage = await engine.Images.ImportAsync(emptyTar, "base", "latest", [], null, CancellationToken.None);
        var images = engine.Images;
        var earlier = await images.DeriveAsync(baseImage.Id, null, images.SettingsOf(baseImage.Id), new CommitInfo("", "", "", "ENV A=1"), "step-a", CancellationToken.None);

        var lease = images.BeginBuild();
        var cached = images.FindBuildStep(baseImage.Id, "step-a", _ => true, lease);
        var made = await images.DeriveAsync(earlier.Id, null, images.SettingsOf(earlier.Id), new CommitInfo("", "", "", "ENV B=2"), "step-b", CancellationToken.None);
        var during = images.PruneBuildCache(_ => true);
        lease.Dispose();
        var after = images.PruneBuildCache(_ => true);

        Assert.Equal(earlier.Id, cached?.Id);
        Assert.Empty(during.Deleted);
        Assert.Equal(new[] { earlier.Id, made.Id }.Order(StringComparer.Ordinal), after.Deleted.Order(StringComparer.Ordinal));
    }
}
