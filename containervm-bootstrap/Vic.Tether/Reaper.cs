namespace Vic.Tether;

/// <summary>
/// PID 1 inherits every orphan. .NET reaps only the children it started, so this collects the
/// others: it peeks at an exited child (WNOWAIT) and reaps it only if it is not one of ours.
/// </summary>
internal static class Reaper
{
    public static unsafe void ReapOrphans(Func<int, bool> isOurs)
    {
        // siginfo_t is 128 bytes; si_pid is the int at offset 16 on x86-64.
        var info = stackalloc byte[128];
        while (true)
        {
            new Span<byte>(info, 128).Clear();
            if (Native.waitid(Native.PAll, 0, info, Native.WExited | Native.WNoHang | Native.WNoWait) < 0)
            {
                return;
            }

            var pid = *(int*)(info + 16);
            if (pid == 0 || isOurs(pid))
            {
                return;
            }

            int status;
            Native.waitpid(pid, &status, Native.WNoHang);
        }
    }
}
