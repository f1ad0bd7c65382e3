using System.Diagnostics;

namespace Vic.TestSupport;

/// <summary>The outcome of running an external program.</summary>
public sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {StandardOutput}\nstderr: {StandardError}";
}

/// <summary>Runs real peers (docker CLI, python3, qemu-img, ...) with a time limit.</summary>
public static class Command
{
    public static async Task<CommandResult> RunAsync(
        string program,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null,
        TimeSpan? timeout = null,
        string? standardInput = null,
        string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory ?? "",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The tests' docker CLI must never pick up a developer's own context or config.
        start.Environment.Remove("DOCKER_HOST");
        start.Environment.Remove("DOCKER_CONTEXT");
        start.Environment.Remove("DOCKER_TLS_VERIFY");
        start.Environment.Remove("DOCKER_CERT_PATH");

        // requests lets these override the CA a client passes explicitly (psf/requests#3829), which
        // would make docker-py ignore the VCH's CA in the TLS tests.
        start.Environment.Remove("REQUESTS_CA_BUNDLE");
        start.Environment.Remove("CURL_CA_BUNDLE");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput).ConfigureAwait(false);
        }

        process.StandardInput.Close();
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish in time");
        }

        return new CommandResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>Runs the docker CLI against <paramref name="host"/> with a throwaway config directory.</summary>
    public static Task<CommandResult> DockerAsync(string host, params string[] arguments) =>
        RunAsync("docker", ["-H", host, .. arguments], new Dictionary<string, string> { ["DOCKER_CONFIG"] = DockerConfigDirectory });

    /// <summary>An empty docker config of the tests' own: no developer's credentials or contexts.</summary>
    public static readonly string DockerConfigDirectory = Directory.CreateTempSubdirectory("docker-config-").FullName;
}
