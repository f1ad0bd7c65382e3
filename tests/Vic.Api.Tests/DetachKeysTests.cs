using System.Text;
using Vic.Api.Hijack;
using Vic.PortLayer.Errors;

namespace Vic.Api.Tests;

public sealed class DetachKeysTests
{
    [Fact]
    public void TheDefaultSequenceDetachesAndKeepsWhatCameBefore()
    {
        var keys = DetachKeys.Parse(null);

        var (forward, detached) = keys.Scan([(byte)'h', (byte)'i', 16, 17, (byte)'x']);

        Assert.True(detached);
        Assert.Equal("hi", Encoding.ASCII.GetString(forward));
    }

    [Fact]
    public void APartialSequenceIsHeldAcrossReadsAndReleasedWhenItBreaks()
    {
        var keys = DetachKeys.Parse("ctrl-x,x");

        var first = keys.Scan([(byte)'a', 24]);
        var second = keys.Scan([(byte)'b']);
        var third = keys.Scan([24]);
        var fourth = keys.Scan([(byte)'x']);

        Assert.Equal("a", Encoding.ASCII.GetString(first.Forward));
        Assert.Equal([24, (byte)'b'], second.Forward);
        Assert.Empty(third.Forward);
        Assert.True(fourth.Detached);
    }

    [Fact]
    public void ARepeatedFirstKeyStillMatches()
    {
        var keys = DetachKeys.Parse("ctrl-p,ctrl-q");

        var (forward, detached) = keys.Scan([16, 16, 17]);

        Assert.True(detached);
        Assert.Equal([16], forward);
    }

    [Theory]
    [InlineData("ctrl-")]
    [InlineData("ctrl-1")]
    [InlineData("shift-a")]
    public void MalformedKeysAreRefusedWithDockersText(string keys)
    {
        var error = Assert.Throws<PortLayerException>(() => DetachKeys.Parse(keys));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.StartsWith("Invalid detach keys", error.Message, StringComparison.Ordinal);
    }
}
