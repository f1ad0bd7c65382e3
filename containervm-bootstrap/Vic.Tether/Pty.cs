using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Vic.Tether;

/// <summary>A pseudo-terminal: the master side stays with the tether, the slave becomes the process's TTY.</summary>
internal sealed class Pty : IDisposable
{
    private Pty(SafeFileHandle master, string slavePath)
    {
        Master = master;
        SlavePath = slavePath;
        Stream = new FileStream(master, FileAccess.ReadWrite, 1, isAsync: false);
    }

    public SafeFileHandle Master { get; }

    public string SlavePath { get; }

    /// <summary>Reads what the process writes to its terminal; writes are its keyboard.</summary>
    public FileStream Stream { get; }

    public static unsafe Pty Open(int rows, int columns)
    {
        var fd = Native.posix_openpt(Native.ORdwr | Native.ONoctty | Native.OCloexec);
        Native.Check(fd, "posix_openpt");
        Native.Check(Native.grantpt(fd), "grantpt");
        Native.Check(Native.unlockpt(fd), "unlockpt");
        var name = stackalloc byte[128];
        Native.Check(Native.ptsname_r(fd, name, 128), "ptsname_r");
        var slave = Encoding.ASCII.GetString(new ReadOnlySpan<byte>(name, 128)[..new ReadOnlySpan<byte>(name, 128).IndexOf((byte)0)]);
        var pty = new Pty(new SafeFileHandle(fd, ownsHandle: true), slave);
        pty.Resize(rows, columns);
        return pty;
    }

    public unsafe void Resize(int rows, int columns)
    {
        var size = new Native.WindowSize { Rows = (ushort)rows, Columns = (ushort)columns };
        Native.Check(Native.ioctl((int)Master.DangerousGetHandle(), Native.TiocSwinsz, &size), "TIOCSWINSZ");
    }

    /// <summary>Whether the master has bytes to read within <paramref name="timeoutMs"/>.</summary>
    public unsafe bool Readable(int timeoutMs)
    {
        var fd = new Native.PollFd { Fd = (int)Master.DangerousGetHandle(), Events = Native.PollIn };
        return Native.poll(&fd, 1, timeoutMs) > 0 && (fd.Revents & Native.PollIn) != 0;
    }

    public void Dispose() => Stream.Dispose();
}
