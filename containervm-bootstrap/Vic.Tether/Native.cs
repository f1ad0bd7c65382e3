using System.Runtime.InteropServices;

namespace Vic.Tether;

/// <summary>The few Linux calls the tether needs that .NET does not wrap.</summary>
internal static partial class Native
{
    public const uint MsRdonly = 1;
    public const uint MsNosuid = 2;
    public const uint MsNodev = 4;
    public const uint MsNoexec = 8;
    public const uint MsBind = 4096;
    public const uint MsRec = 16384;
    public const uint MsRemount = 32;
    public const int RbPowerOff = 0x4321fedc;
    public const int WExited = 4;
    public const int WNoHang = 1;
    public const int WNoWait = 0x01000000;
    public const int PAll = 0;
    public const uint TiocSwinsz = 0x5414;
    public const int ONoctty = 0x100;
    public const int ORdwr = 2;
    public const int OCloexec = 0x80000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string? source, string target, string? fstype, uint flags, string? data);

    /// <summary>umount2's MNT_DETACH: the mount goes now, and with it what is mounted below it.</summary>
    public const int MntDetach = 2;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    /// <summary>Discards what a terminal has received and not yet been read (queue 0, TCIFLUSH).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int tcflush(int fd, int queue);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int reboot(int cmd);

    public const long SysFinitModule = 313;
    public const int EExist = 17;

    /// <summary>syscall(2) with three integer-sized arguments: glibc wraps no finit_module.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial long syscall(long number, nint a, nint b, nint c);

    [LibraryImport("libc")]
    public static partial void sync();

    public const int ClockRealtime = 0;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int clock_settime(int clock, in Timespec time);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sethostname(string name, nint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    public const short PollIn = 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_openpt(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int grantpt(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int unlockpt(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int ptsname_r(int fd, byte* buffer, nint length);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int ioctl(int fd, uint request, void* argument);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int waitid(int idType, uint id, void* info, int options);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int waitpid(int pid, int* status, int options);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lchown(string path, int owner, int group);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int link(string existing, string created);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lstat(string path, out FileStat stat);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int stat(string path, out FileStat stat);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mknod(string path, uint mode, ulong device);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial nint lgetxattr(string path, string name, byte* value, nint size);

    public static string LastError() => Marshal.GetLastPInvokeErrorMessage();

    public static void Check(int result, string what)
    {
        if (result < 0)
        {
            throw new IOException($"{what}: {LastError()}");
        }
    }

    /// <summary>struct stat as x86-64 Linux lays it out (the only ABI ContainerVMs run).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    public struct FileStat
    {
        [FieldOffset(0)]
        public ulong Device;

        [FieldOffset(8)]
        public ulong Inode;

        [FieldOffset(16)]
        public ulong Links;

        [FieldOffset(24)]
        public uint Mode;

        [FieldOffset(28)]
        public int Uid;

        [FieldOffset(32)]
        public int Gid;

        [FieldOffset(40)]
        public ulong Rdev;

        [FieldOffset(48)]
        public long Size;

        [FieldOffset(88)]
        public long MtimeSeconds;

        public readonly uint Type => Mode & 0xF000;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct WindowSize
    {
        public ushort Rows;
        public ushort Columns;
        public ushort XPixels;
        public ushort YPixels;
    }
}
