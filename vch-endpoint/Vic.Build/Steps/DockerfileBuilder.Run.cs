using System.Text;
using Vic.Build.Context;
using System.Text.RegularExpressions;
using Vic.Build.Dockerfile;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;

namespace Vic.Build.Steps;

/// <summary>The steps that make a layer, RUN: a container runs the command and its writable layer is read back.</summary>
public sealed partial class DockerfileBuilder
{
    /// <summary>What a step container runs when it is never started (a COPY's): a create needs a command.</summary>
    private static readonly IReadOnlyList<string> NeverRun = ["/bin/sh", "-c", "#(nop) "];

    private async Task RunAsync(StageState stage, Instruction instruction, BuildOptions options, Func<string, Task> say, CancellationToken cancellationToken)
    {
        var args = RunCommand(stage, instruction);
        if (args.Count == 0)
        {
            throw new BuildException("RUN requires at least one argument");
        }

        var argEnvironment = stage.ArgEnvironment();
        var createdBy = (argEnvironment.Count > 0 ? $"|{argEnvironment.Count} {string.Join(' ', argEnvironment)} " : "") + string.Join(' ', args);
        var key = Key("run", createdBy, stage.Settings.ToJsonString(), options.NetworkMode, string.Join(',', options.ExtraHosts));
        if (await TryCacheAsync(stage, key, NoCacheNow, say).ConfigureAwait(false))
        {
            return;
        }

        if (stage.ImageId is null)
        {
            throw new BuildException($"The command '{string.Join(' ', args)}' cannot run: the stage is FROM scratch and has no files yet");
        }

        var config = StepContainer(stage, options) with { Cmd = args, Env = [.. stage.Environment, .. argEnvironment] };
        var container = containers.Create(null, stage.ImageId, new Dictionary<string, string>(), config);
        var removed = false;
        try
        {
            await say($" ---> Running in {container.Id[..12]}\n").ConfigureAwait(false);
            var attached = containers.Attach(container.Id);
            var relay = Task.Run(
                async () =>
                {
                    await foreach (var chunk in attached.Output.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                    {
                        // dockerd's builder colours a step's stderr red, and clients look for it so.
                        var text = Encoding.UTF8.GetString(chunk.Data);
                        await say(chunk.Stream == OutputStream.Stderr ? $"\u001b[91m{text}\u001b[0m" : text).ConfigureAwait(false);
                    }
                },
                cancellationToken);
            Directory.CreateDirectory(scratchFolder);
            var layer = Path.Combine(scratchFolder, $"layer-{Guid.NewGuid():N}.tar");
            int code;
            try
            {
                await using var output = File.Create(layer);
                code = await containers.RunBuildStepAsync(container.Id, output, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                File.Delete(layer);
                throw;
            }

            await Task.WhenAny(relay, Task.Delay(TimeSpan.FromSeconds(5), cancellationToken)).ConfigureAwait(false);
            if (code != 0)
            {
                File.Delete(layer);
                if (options.ForceRemove)
                {
                    removed = await RemoveAsync(container.Id, say, announce: false).ConfigureAwait(false);
                }

                throw new BuildException($"The command '{string.Join(' ', args)}' returned a non-zero code: {code}", code);
            }

            // The step's ContainerVM goes while its layer is imported: neither needs the other. Its
            // image is announced after the removal, in dockerd's order.
            var removing = options.RemoveIntermediate || options.ForceRemove ? RemoveAsync(container.Id, say, announce: true) : Task.FromResult(false);
            try
            {
                await CommitAsync(stage, key, layer, createdBy, async text => { await removing.ConfigureAwait(false); await say(text).ConfigureAwait(false); }, container.Id, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                try
                {
                    removed = await removing.ConfigureAwait(false);
                }
                finally
                {
                    File.Delete(layer);
                }
            }
        }
        catch (OperationCanceledException) when (!removed)
        {
            // The client went away (or gave up): a RUN that would never end must not outlive its build.
            await containers.RemoveAsync(container.Id, force: true, CancellationToken.None, removeVolumes: true).ConfigureAwait(false);
            throw;
        }
        catch when (!removed && options.ForceRemove)
        {
            await RemoveAsync(container.Id, say, announce: false).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> on a step container's files, then reads its writable layer into a tar on the VCH.</summary>
    private async Task<string> ReadLayerAsync(string containerId, Func<ContainerFiles, Task> work, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(scratchFolder);
        var layer = Path.Combine(scratchFolder, $"layer-{Guid.NewGuid():N}.tar");
        try
        {
            await containers.UseFilesAsync(containerId, async files =>
            {
                await work(files).ConfigureAwait(false);
                await using var output = File.Create(layer);
                await files.CommitLayerAsync(output, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            File.Delete(layer);
            throw;
        }

        return layer;
    }

    private async Task<bool> RemoveAsync(string containerId, Func<string, Task> say, bool announce)
    {
        await containers.RemoveAsync(containerId, force: true, CancellationToken.None, removeVolumes: true).ConfigureAwait(false);
        if (announce)
        {
            await say($"Removing intermediate container {containerId[..12]}\n").ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>A step's container: the stage's user, folder and network, no entrypoint, no healthcheck.</summary>
    private static ContainerConfig StepContainer(StageState stage, BuildOptions options) => new()
    {
        Entrypoint = [""],
        Env = stage.Environment,
        User = stage.RunAs,
        WorkingDir = stage.WorkingFolder,
        NetworkMode = options.NetworkMode is "" or "default" or "bridge" or "host" ? "default" : options.NetworkMode,
        ExtraHosts = options.ExtraHosts,
        MemoryBytes = options.MemoryBytes,
        Healthcheck = new HealthcheckConfig { Test = ["NONE"] },
    };

    /// <summary>RUN's command: the exec form, a here-document alone as the script, or the shell form with its here-documents.</summary>
    private static IReadOnlyList<string> RunCommand(StageState stage, Instruction instruction)
    {
        if (instruction.JsonForm is { } exec)
        {
            return exec;
        }

        if (instruction.HereDocuments is [var only] && LoneHereDocument().IsMatch(instruction.Arguments.Trim()))
        {
            return [.. stage.ShellPrefix, only.Content];
        }

        var text = instruction.Arguments;
        foreach (var document in instruction.HereDocuments)
        {
            text += "\n" + document.Content + document.Name;
        }

        return text.Length == 0 ? [] : [.. stage.ShellPrefix, text];
    }

    [GeneratedRegex(@"^<<-?([""']?)[A-Za-z_][A-Za-z0-9_]*\1$")]
    private static partial Regex LoneHereDocument();
}
