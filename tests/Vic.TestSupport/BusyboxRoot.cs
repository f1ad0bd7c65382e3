namespace Vic.TestSupport;

/// <summary>A minimal container root on the host: Debian's static busybox with its applets, and a root user.</summary>
public static class BusyboxRoot
{
    public static string Create(string path)
    {
        var bin = Directory.CreateDirectory(Path.Combine(path, "bin")).FullName;
        foreach (var folder in (string[])["etc", "tmp", "proc", "dev", "root"])
        {
            Directory.CreateDirectory(Path.Combine(path, folder));
        }

        File.Copy("/bin/busybox", Path.Combine(bin, "busybox"), overwrite: true);
        File.SetUnixFileMode(Path.Combine(bin, "busybox"), (UnixFileMode)0x1ED);
        var applets = Command.RunAsync("/bin/busybox", ["--list"]).GetAwaiter().GetResult().StandardOutput;
        foreach (var applet in applets.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(a => a != "busybox"))
        {
            var link = Path.Combine(bin, applet);
            if (!File.Exists(link))
            {
                File.CreateSymbolicLink(link, "busybox");
            }
        }

        File.WriteAllText(Path.Combine(path, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
        File.WriteAllText(Path.Combine(path, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
        return path;
    }
}
