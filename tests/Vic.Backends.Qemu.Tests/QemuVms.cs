namespace Vic.Backends.Qemu.Tests;

/// <summary>Finds a ContainerVM's folder and QEMU process under a backend's state directory, as the tests look at them from outside.</summary>
internal static class QemuVms
{
    public static string FolderOf(string stateDirectory, string vmId) =>
        Directory.EnumerateDirectories(Path.Combine(stateDirectory, "vms"))
            .Single(d => File.ReadAllText(Path.Combine(d, "vm.json")).Contains($"\"{vmId}\"", StringComparison.Ordinal));

    public static int Pid(string folder) =>
        int.Parse(File.ReadAllText(Path.Combine(folder, "qemu.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
