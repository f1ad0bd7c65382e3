using System.Text.Json;
using Vic.TestSupport;

namespace Vic.Disks.Vmdk.Tests;

/// <summary>qemu-img as the independent judge of the VMDKs we write.</summary>
internal static class QemuImg
{
    public static async Task AssertCleanAsync(string vmdk)
    {
        var result = await RunAsync("check", "-f", "vmdk", vmdk);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("No errors were found on the image.", result.StandardOutput);
    }

    public static async Task AssertInfoAsync(string vmdk, long virtualSize, string createType)
    {
        var result = await RunAsync("info", "-f", "vmdk", "--output=json", vmdk);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var info = JsonDocument.Parse(result.StandardOutput);
        var root = info.RootElement;
        Assert.Equal("vmdk", root.GetProperty("format").GetString());
        Assert.Equal(virtualSize, root.GetProperty("virtual-size").GetInt64());
        var data = root.GetProperty("format-specific").GetProperty("data");
        Assert.Equal(createType, data.GetProperty("create-type").GetString());
    }

    public static async Task AssertIdenticalAsync(string raw, string vmdk)
    {
        var result = await RunAsync("compare", "-f", "raw", "-F", "vmdk", raw, vmdk);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Images are identical.", result.StandardOutput);
    }

    public static async Task ConvertAsync(string input, string inputFormat, string output, string outputFormat, params string[] options)
    {
        var result = await RunAsync(["convert", "-f", inputFormat, "-O", outputFormat, .. options, input, output]);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    /// <summary>All the checks a VMDK of ours must pass against the raw image of the same disk.</summary>
    public static async Task AssertValidAndEqualAsync(string raw, string vmdk, string createType, TempDirectory directory)
    {
        await AssertCleanAsync(vmdk);
        await AssertInfoAsync(vmdk, new FileInfo(raw).Length, createType);
        await AssertIdenticalAsync(raw, vmdk);
        var converted = directory.Combine(Path.GetFileName(vmdk) + ".converted.raw");
        await ConvertAsync(vmdk, "vmdk", converted, "raw");
        TestDisk.AssertSameBytes(raw, converted);
        File.Delete(converted);
    }

    private static Task<CommandResult> RunAsync(params string[] arguments) =>
        Command.RunAsync("qemu-img", arguments, timeout: TimeSpan.FromSeconds(60));
}
