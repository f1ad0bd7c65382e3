using System.Runtime.InteropServices;

namespace Vic.Tether;

/// <summary>
/// Kernel modules loaded on demand. vic-init loads the boot set (<c>modules.order</c>) before the
/// tether starts; a set only some containers need (NFS: 0.6 s of loading under emulation) has its own
/// list, <c>/lib/modules/&lt;set&gt;.order</c> in dependency order, loaded the first time it is needed.
/// </summary>
internal static class KernelModules
{
    private const string Directory = "/lib/modules";
    private static readonly HashSet<string> Loaded = [];
    private static readonly Lock Gate = new();

    /// <summary>Loads every module of the set that the kernel does not have yet; throws on the first failure.</summary>
    public static void LoadSet(string set)
    {
        lock (Gate)
        {
            if (Loaded.Contains(set))
            {
                return;
            }

            var list = Path.Combine(Directory, set + ".order");
            if (!File.Exists(list))
            {
                // A kernel with the set built in, or an image without it: mount(2) tells which.
                Loaded.Add(set);
                return;
            }

            foreach (var line in File.ReadLines(list))
            {
                var module = line.Trim();
                if (module.Length > 0 && module[0] != '#')
                {
                    Load(module[0] == '/' ? module : Path.Combine(Directory, module));
                }
            }

            Loaded.Add(set);
        }
    }

    private static unsafe void Load(string path)
    {
        using var file = File.OpenHandle(path);

        // No module parameters: an empty string, which the kernel reads (a null pointer is EFAULT).
        byte noParameters = 0;
        if (Native.syscall(Native.SysFinitModule, file.DangerousGetHandle(), (nint)(&noParameters), 0) != 0 && Marshal.GetLastPInvokeError() != Native.EExist)
        {
            throw new IOException($"load kernel module {path}: {Native.LastError()}");
        }
    }
}
