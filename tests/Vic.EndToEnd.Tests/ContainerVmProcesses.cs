namespace Vic.EndToEnd.Tests;

/// <summary>The host's QEMU processes seen from the outside, as an admin would find them.</summary>
internal static class ContainerVmProcesses
{
    /// <summary>The QEMU process with a file of the container's open (its scratch disk); 0 when none.</summary>
    public static int Holding(string containerId)
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), System.Globalization.CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (!File.ReadAllText(Path.Combine(directory, "comm")).StartsWith("qemu-system", StringComparison.Ordinal))
                {
                    continue;
                }

                if (Directory.EnumerateFiles(Path.Combine(directory, "fd")).Any(fd => new FileInfo(fd).LinkTarget?.Contains(containerId, StringComparison.Ordinal) == true))
                {
                    return pid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // It ended meanwhile.
            }
        }

        return 0;
    }

    /// <summary>The virtiofsd sharing <paramref name="hostFolder"/>; 0 when none does.</summary>
    public static int SharingDaemon(string hostFolder)
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(directory), System.Globalization.CultureInfo.InvariantCulture, out var pid)
                    && File.ReadAllText(Path.Combine(directory, "cmdline")).Split('\0').Contains($"source={hostFolder}"))
                {
                    return pid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // It ended meanwhile.
            }
        }

        return 0;
    }
}
