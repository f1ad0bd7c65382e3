using Vic.Interaction;

namespace Vic.Interaction.Tests;

/// <summary>Docker's capability rules (moby's oci/caps TweakCapabilities), which the tether's bounding set follows.</summary>
public sealed class LinuxCapabilitiesTests
{
    [Fact]
    public void NothingAskedIsDockersFourteenDefaults()
    {
        var caps = LinuxCapabilities.Tweak([], [], privileged: false);

        Assert.Equal(14, caps.Count);
        Assert.Contains("CAP_NET_BIND_SERVICE", caps);
        Assert.DoesNotContain("CAP_SYS_ADMIN", caps);
    }

    [Fact]
    public void DroppedLeaveAndAddedJoinTheDefaults()
    {
        var caps = LinuxCapabilities.Tweak(["CAP_NET_ADMIN"], ["CAP_CHOWN", "CAP_KILL"], privileged: false);

        Assert.Equal(13, caps.Count);
        Assert.Contains("CAP_NET_ADMIN", caps);
        Assert.DoesNotContain("CAP_CHOWN", caps);
        Assert.DoesNotContain("CAP_KILL", caps);
    }

    [Fact]
    public void AllDroppedKeepsOnlyTheAddedAndAllAddedKeepsAllButTheDropped()
    {
        Assert.Equal(["CAP_NET_BIND_SERVICE"], LinuxCapabilities.Tweak(["CAP_NET_BIND_SERVICE"], ["ALL"], privileged: false));
        Assert.Empty(LinuxCapabilities.Tweak([], ["ALL"], privileged: false));
        var allButOne = LinuxCapabilities.Tweak(["ALL"], ["CAP_SYS_ADMIN"], privileged: false);
        Assert.Equal(LinuxCapabilities.All.Count - 1, allButOne.Count);
        Assert.DoesNotContain("CAP_SYS_ADMIN", allButOne);
    }

    [Fact]
    public void PrivilegedGetsEveryCapabilityWhateverIsDropped()
    {
        Assert.Equal(LinuxCapabilities.All, LinuxCapabilities.Tweak([], ["ALL"], privileged: true));
    }

    [Theory]
    [InlineData("net_admin", "CAP_NET_ADMIN")]
    [InlineData("CAP_SYS_ADMIN", "CAP_SYS_ADMIN")]
    [InlineData(" Chown ", "CAP_CHOWN")]
    [InlineData("all", "ALL")]
    [InlineData("fly", null)]
    public void NamesAreNormalizedAsDockerDoes(string name, string? normalized)
    {
        Assert.Equal(normalized, LinuxCapabilities.Normalize(name));
    }

    [Fact]
    public void NumbersAreLinuxs()
    {
        Assert.Equal(0, LinuxCapabilities.NumberOf("CAP_CHOWN"));
        Assert.Equal(21, LinuxCapabilities.NumberOf("CAP_SYS_ADMIN"));
        Assert.Equal(40, LinuxCapabilities.NumberOf("CAP_CHECKPOINT_RESTORE"));
        Assert.Equal(-1, LinuxCapabilities.NumberOf("CAP_FLY"));
    }
}
