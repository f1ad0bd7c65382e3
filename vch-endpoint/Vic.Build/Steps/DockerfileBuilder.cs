using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Vic.Build.Context;
using Vic.Build.Dockerfile;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Images;
using Vic.PortLayer.Runtime;
using Vic.Registry;

namespace Vic.Build.Steps;

/// <summary>
/// The classic builder, on ContainerVMs: each stage starts from its FROM image; instructions that
/// only change the config make an image with no new layer; RUN runs in a container whose writable
/// layer becomes the step's layer; COPY and ADD unpack into a container's files the same way. Every
/// step's image is found again by its parent and a key of what it did (the build cache), and
/// progress is printed in dockerd's words (<c>Step N/M</c>, <c>---&gt; id</c>).
/// </summary>
public sealed partial class DockerfileBuilder(ImageService images, ContainerService containers, string scratchFolder)
{
    public async Task<string> BuildAsync(BuildContext context, BuildOptions options, IBuildOutput output, CancellationToken cancellationToken)
    {
        using var lease = images.BeginBuild();
        _lease = lease;
        NoCacheNow = options.NoCache;
        _cacheSources = options.CacheFrom is { } cacheFrom ? images.BuildChains(cacheFrom) : null;
        var document = DockerfileParser.Parse(context.ReadDockerfile(options.Dockerfile));
        context.ApplyIgnore();
        var quiet = options.Quiet;
        async Task Say(string text)
        {
            if (!quiet)
            {
                await output.WriteAsync(text, cancellationToken).ConfigureAwait(false);
            }
        }

        foreach (var note in document.Notes)
        {
            await Say(note + "\n").ConfigureAwait(false);
        }

        var (metaArgs, stages) = Split(document);
        if (stages.Count == 0)
        {
            throw new BuildException("the Dockerfile has no FROM instruction: a build must start from an image or scratch");
        }

        if (options.Target is { Length: > 0 } target)
        {
            var last = stages.FindIndex(s => string.Equals(StageName(s[0]), target, StringComparison.OrdinalIgnoreCase));
            if (last < 0)
            {
                throw new BuildException($"failed to reach build target {target} in Dockerfile");
            }

            stages = stages[..(last + 1)];
        }

        var total = metaArgs.Count + stages.Sum(s => s.Count);
        var step = 0;
        var consumed = new HashSet<string>(StringComparer.Ordinal);

        // ARGs before the first FROM are for FROM lines only.
        var meta = new StageState(null, null, [], options.BuildArgs, document.Escape);
        foreach (var arg in metaArgs)
        {
            await Say($"Step {++step}/{total} : {arg.Original}\n").ConfigureAwait(false);
            DeclareArg(meta, arg, options);
        }

        consumed.UnionWith(meta.Consumed);
        foreach (var (name, value) in meta.Args)
        {
            _globalArgs[name] = value;
        }

        var built = _stages;
        StageState? stage = null;
        foreach (var instructions in stages)
        {
            var from = instructions[0];
            await Say($"Step {++step}/{total} : {from.Original}\n").ConfigureAwait(false);
            stage = await FromAsync(from, meta, built, options, output, document.Escape, cancellationToken).ConfigureAwait(false);
            await Say($" ---> {Short(stage.ImageId)}\n").ConfigureAwait(false);
            var triggers = stage.Settings["OnBuild"] is JsonArray onbuild ? onbuild.Select(t => t!.GetValue<string>()).ToList() : [];
            if (triggers.Count > 0)
            {
                stage.Settings.Remove("OnBuild");
                await Say($"# Executing {triggers.Count} build trigger{(triggers.Count == 1 ? "" : "s")}\n").ConfigureAwait(false);
                foreach (var trigger in DockerfileParser.Parse(string.Join('\n', triggers)).Instructions)
                {
                    await StepAsync(stage, trigger, context, options, Say, output, cancellationToken).ConfigureAwait(false);
                }
            }

            foreach (var instruction in instructions.Skip(1))
            {
                await Say($"Step {++step}/{total} : {instruction.Original}\n").ConfigureAwait(false);
                await StepAsync(stage, instruction, context, options, Say, output, cancellationToken).ConfigureAwait(false);
            }

            consumed.UnionWith(stage.Consumed);
            built.Add(stage);
        }

        var final = stage!;
        if (options.Labels.Count > 0)
        {
            var labels = final.Settings["Labels"] as JsonObject ?? [];
            foreach (var (key, value) in options.Labels)
            {
                labels[key] = value;
            }

            final.Settings["Labels"] = labels;
            await CommitConfigAsync(final, "LABEL " + string.Join(' ', options.Labels.Select(l => $"{l.Key}={l.Value}")), cancellationToken).ConfigureAwait(false);
        }

        if (final.ImageId is null)
        {
            // FROM scratch and nothing else: an image with no layers, as dockerd makes it.
            await CommitConfigAsync(final, "FROM scratch", cancellationToken).ConfigureAwait(false);
        }

        var unused = options.BuildArgs.Keys.Where(k => !consumed.Contains(k) && !StageState.PredefinedArgs.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unused.Count > 0)
        {
            await Say($"[Warning] One or more build-args [{string.Join(' ', unused)}] were not consumed\n").ConfigureAwait(false);
        }

        var id = final.ImageId!;
        await output.ResultAsync(id, cancellationToken).ConfigureAwait(false);
        await Say($"Successfully built {Short(id)}\n").ConfigureAwait(false);
        foreach (var tag in options.Tags)
        {
            images.TagBuilt(id, tag);
            await Say($"Successfully tagged {ImageReference.Parse(tag).FamiliarString}\n").ConfigureAwait(false);
        }

        return id;
    }

    private async Task StepAsync(StageState stage, Instruction instruction, BuildContext context, BuildOptions options, Func<string, Task> say, IBuildOutput output, CancellationToken cancellationToken)
    {
        try
        {
            switch (instruction.Keyword)
            {
                case "FROM":
                    throw new BuildException("FROM starts a stage: it cannot be an ONBUILD trigger");
                case "ARG":
                    DeclareArg(stage, instruction, options);
                    await CommitConfigAsync(stage, "ARG " + instruction.Arguments, cancellationToken, say).ConfigureAwait(false);
                    return;
                case "RUN":
                    await RunAsync(stage, instruction, options, say, cancellationToken).ConfigureAwait(false);
                    return;
                case "COPY" or "ADD":
                    await CopyAsync(stage, instruction, context, options, say, cancellationToken).ConfigureAwait(false);
                    return;
                default:
                    var history = stage.ApplyConfig(instruction) ?? throw new BuildException($"unknown instruction: {instruction.Keyword}");
                    await CommitConfigAsync(stage, history, cancellationToken, say).ConfigureAwait(false);
                    return;
            }
        }
        catch (DockerfileException ex)
        {
            throw new BuildException($"Dockerfile line {instruction.Line}: {ex.Message}");
        }
        catch (BuildException ex) when (ex.Code == 1 && !ex.Message.StartsWith("Dockerfile line", StringComparison.Ordinal) && !ex.Message.StartsWith("The command", StringComparison.Ordinal))
        {
            throw new BuildException($"Dockerfile line {instruction.Line}: {ex.Message}");
        }
    }

    private async Task<StageState> FromAsync(Instruction from, StageState meta, IReadOnlyList<StageState> built, BuildOptions options, IBuildOutput output, char escape, CancellationToken cancellationToken)
    {
        if (from.Flags.TryGetValue("platform", out var platform) && meta.Words.Word(platform) is { Length: > 0 } wanted && wanted is not ("linux/amd64" or "linux" or "linux/x86_64"))
        {
            throw new BuildException($"Dockerfile line {from.Line}: this VCH builds for linux/amd64 only, not --platform={wanted}");
        }

        var words = meta.Words.Words(from.Arguments);
        if (words.Count is not (1 or 3) || (words.Count == 3 && !string.Equals(words[1], "AS", StringComparison.OrdinalIgnoreCase)))
        {
            throw new BuildException($"Dockerfile line {from.Line}: FROM requires either one or three arguments");
        }

        var name = words.Count == 3 ? words[2].ToLowerInvariant() : null;
        var image = words[0];
        if (image.Length == 0)
        {
            throw new BuildException($"Dockerfile line {from.Line}: base name ({from.Arguments}) should not be blank");
        }

        var earlier = built.LastOrDefault(s => string.Equals(s.Name, image, StringComparison.OrdinalIgnoreCase));
        if (earlier is not null)
        {
            return new StageState(name, earlier.ImageId, (JsonObject)earlier.Settings.DeepClone(), options.BuildArgs, escape);
        }

        if (string.Equals(image, "scratch", StringComparison.OrdinalIgnoreCase))
        {
            return new StageState(name, null, [], options.BuildArgs, escape);
        }

        var found = options.Pull ? null : images.Catalog.Find(image);
        if (found is null)
        {
            var reference = ImageReference.TryParse(image, out var parsed, out var error) ? parsed : throw new BuildException($"Dockerfile line {from.Line}: invalid reference format: {error}");
            options.Credentials.TryGetValue(reference.Registry, out var credentials);
            try
            {
                found = await images.PullAsync(reference.ToString(), credentials, output.PullProgress, cancellationToken).ConfigureAwait(false);
            }
            catch (PortLayerException ex)
            {
                throw new BuildException($"Dockerfile line {from.Line}: {ex.Message}");
            }
        }

        if (_lease is not null)
        {
            images.Hold(_lease, found.Id);
        }

        return new StageState(name, found.Id, images.SettingsOf(found.Id), options.BuildArgs, escape);
    }

    private void DeclareArg(StageState stage, Instruction instruction, BuildOptions options)
    {
        var text = instruction.Arguments.Trim();
        if (text.Length == 0)
        {
            throw new BuildException("ARG requires exactly one argument");
        }

        foreach (var declaration in stage.Words.Words(text))
        {
            var equals = declaration.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? declaration : declaration[..equals];
            // An ARG with no default in a stage takes the one before the first FROM, as Docker's does.
            string? value = equals < 0 ? _globalArgs.GetValueOrDefault(name) : declaration[(equals + 1)..];
            if (options.BuildArgs.TryGetValue(name, out var given))
            {
                value = given ?? value;
                stage.Consumed.Add(name);
            }

            stage.Args[name] = value;
        }
    }

    /// <summary>Makes (or finds in the cache) the image a config-only step leads to.</summary>
    private async Task CommitConfigAsync(StageState stage, string history, CancellationToken cancellationToken, Func<string, Task>? say = null)
    {
        var createdBy = $"/bin/sh -c #(nop)  {history}";
        var key = Key("nop", createdBy, stage.Settings.ToJsonString(), stage.Author);
        await CommitAsync(stage, key, null, createdBy, say, "", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves the stage on to the image made from its current one by <paramref name="key"/>: the
    /// cached one if there is one (and the build takes the cache), else one <paramref name="make"/>
    /// makes a layer for (or none, for a config change).
    /// </summary>
    private async Task<bool> TryCacheAsync(StageState stage, string key, bool noCache, Func<string, Task> say)
    {
        if (noCache || images.FindBuildStep(stage.ImageId, key, image => _cacheSources?.Contains(image.Id) ?? true, _lease) is not { } cached)
        {
            return false;
        }

        stage.ImageId = cached.Id;
        await say(" ---> Using cache\n").ConfigureAwait(false);
        await say($" ---> {Short(cached.Id)}\n").ConfigureAwait(false);
        return true;
    }

    private async Task CommitAsync(StageState stage, string key, string? layerTar, string createdBy, Func<string, Task>? say, string containerId, CancellationToken cancellationToken)
    {
        say ??= _ => Task.CompletedTask;
        if (layerTar is null && await TryCacheAsync(stage, key, NoCacheNow, say).ConfigureAwait(false))
        {
            return;
        }

        await using var layer = layerTar is null ? null : File.OpenRead(layerTar);
        var image = await images.DeriveAsync(stage.ImageId, layer, (JsonObject)stage.Settings.DeepClone(), new ImageStore.Archive.CommitInfo(containerId, stage.Author, "", createdBy), key, cancellationToken).ConfigureAwait(false);
        stage.ImageId = image.Id;
        await say($" ---> {Short(image.Id)}\n").ConfigureAwait(false);
    }

    /// <summary>This build's hold on the images it builds on, against a builder prune meanwhile.</summary>
    private ImageService.BuildLease? _lease;

    /// <summary>Whether this build ignores the cache (set per build: one builder serves one build).</summary>
    private bool NoCacheNow { get; set; }

    /// <summary>The ARGs before the first FROM, with their values: the defaults of a stage's bare ARG lines.</summary>
    private readonly Dictionary<string, string?> _globalArgs = new(StringComparer.Ordinal);

    /// <summary>With --cache-from, the only images a step may take from the cache.</summary>
    private IReadOnlySet<string>? _cacheSources;

    /// <summary>The stages built so far, for FROM and COPY --from.</summary>
    private readonly List<StageState> _stages = [];

    private static (List<Instruction> Meta, List<List<Instruction>> Stages) Split(DockerfileDocument document)
    {
        var meta = new List<Instruction>();
        var stages = new List<List<Instruction>>();
        foreach (var instruction in document.Instructions)
        {
            if (instruction.Keyword == "FROM")
            {
                stages.Add([instruction]);
            }
            else if (stages.Count > 0)
            {
                stages[^1].Add(instruction);
            }
            else if (instruction.Keyword == "ARG")
            {
                meta.Add(instruction);
            }
            else
            {
                throw new BuildException($"Dockerfile line {instruction.Line}: {instruction.Keyword} before the first FROM: only ARG may come before it");
            }
        }

        return (meta, stages);
    }

    private static string? StageName(Instruction from)
    {
        var words = from.Arguments.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        return words.Length == 3 && string.Equals(words[1], "AS", StringComparison.OrdinalIgnoreCase) ? words[2] : null;
    }

    private static string Key(params string[] parts) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\0', parts))));

    private static string Short(string? id) => id is null ? "scratch" : id.StartsWith("sha256:", StringComparison.Ordinal) ? id[7..19] : id[..Math.Min(12, id.Length)];
}
