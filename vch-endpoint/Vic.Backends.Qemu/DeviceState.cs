using System.Text.Json.Nodes;

namespace Vic.Backends.Qemu;

/// <summary>
/// Saving and restoring a VM's state with QEMU's migration, usually without its RAM: with the
/// <c>x-ignore-shared</c> capability on, RAM the VM maps shared from a file is not in the stream,
/// so a template's state file holds only CPUs and devices (hundreds of KiB, not the guest's RAM),
/// and a clone restoring it reads the RAM from the template's file as it touches each page. With
/// the RAM (<c>withRam</c>), the stream is a full copy a clone reads into memory of its own.
/// </summary>
internal static class DeviceState
{
    /// <summary>Writes the stopped VM's state to <paramref name="path"/>.</summary>
    public static async Task SaveAsync(QmpClient qmp, string path, bool withRam, CancellationToken cancellationToken)
    {
        await IgnoreSharedRamAsync(qmp, !withRam, cancellationToken).ConfigureAwait(false);
        await qmp.ExecuteAsync("migrate", new JsonObject { ["uri"] = $"exec:cat > {path}" }, cancellationToken).ConfigureAwait(false);
        await WaitCompletedAsync(qmp, "saving the template", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Restores a VM started with <c>-incoming defer</c> from <paramref name="path"/>; it arrives paused.</summary>
    public static async Task RestoreAsync(QmpClient qmp, string path, bool withRam, CancellationToken cancellationToken)
    {
        await IgnoreSharedRamAsync(qmp, !withRam, cancellationToken).ConfigureAwait(false);
        await qmp.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = $"exec:cat {path}" }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits until a restored VM runs, resuming it if it arrived paused.</summary>
    public static async Task WaitRunningAsync(QmpClient qmp, CancellationToken cancellationToken)
    {
        for (var i = 0; i < 3000; i++)
        {
            var status = (await qmp.ExecuteAsync("query-status", null, cancellationToken).ConfigureAwait(false))?["status"]?.GetValue<string>();
            if (status == "running")
            {
                return;
            }

            // The template was stopped before it was saved, so the restored VM arrives paused.
            if (status == "paused")
            {
                await qmp.ExecuteAsync("cont", null, cancellationToken).ConfigureAwait(false);
                continue;
            }

            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }

        throw new QemuException("the restored ContainerVM did not start running");
    }

    private static Task IgnoreSharedRamAsync(QmpClient qmp, bool ignore, CancellationToken cancellationToken) =>
        qmp.ExecuteAsync("migrate-set-capabilities", new JsonObject
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "x-ignore-shared", ["state"] = ignore }),
        }, cancellationToken);

    private static async Task WaitCompletedAsync(QmpClient qmp, string what, CancellationToken cancellationToken)
    {
        while (true)
        {
            var status = (await qmp.ExecuteAsync("query-migrate", null, cancellationToken).ConfigureAwait(false))?["status"]?.GetValue<string>();
            switch (status)
            {
                case "completed":
                    return;
                case "failed" or "cancelled":
                    throw new QemuException($"{what} failed: migration {status}");
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }
}
