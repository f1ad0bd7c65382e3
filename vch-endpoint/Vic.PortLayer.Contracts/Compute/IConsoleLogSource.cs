namespace Vic.PortLayer.Compute;

/// <summary>
/// A backend that keeps what each ContainerVM wrote to its console (serial port 0: the kernel's and
/// vic-init's messages), which is what an admin reads when a ContainerVM does not come up. A role of
/// its own because not every backend can: vSphere keeps a VM's serial output only where a serial port
/// file was configured.
/// </summary>
public interface IConsoleLogSource
{
    /// <summary>The console's last <paramref name="maxBytes"/> bytes, or null when the VM has none kept.</summary>
    Task<byte[]?> ReadConsoleAsync(string vmId, int maxBytes, CancellationToken cancellationToken);
}
