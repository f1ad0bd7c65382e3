using System.Diagnostics;
using System.Globalization;

namespace Vic.Machine;

/// <summary>
/// Runs the VCH's endpoint (<c>vch-endpoint</c>, shipped beside vic-machine) as a daemon of its
/// own session, its output in <c>endpoint.log</c> and its pid in <c>endpoint.pid</c> under the cert path.
/// </summary>
public static class EndpointLauncher
{
    /// <summary>How long the endpoint has to say it serves, in tenths of a second.</summary>
    private const int Deciseconds = 300;

    public static string PidFile(string certPath) => Path.Combine(certPath, "endpoint.pid");

    public static string LogFile(string certPath) => Path.Combine(certPath, "endpoint.log");

    public static async Task StartAsync(VchPlan plan, MachineProgress progress, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "vch-endpoint.dll");
        var logStart = File.Exists(LogFile(plan.CertPath)) ? new FileInfo(LogFile(plan.CertPath)).Length : 0;
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("log=$1; shift; setsid \"$@\" </dev/null >>\"$log\" 2>&1 & echo $!");
        start.ArgumentList.Add("vic-machine");
        start.ArgumentList.Add(LogFile(plan.CertPath));
        start.ArgumentList.Add("dotnet");
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The VCH's proxies, and only those: not the ones of the shell vic-machine runs in.
        foreach (var variable in new[] { "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY" })
        {
            start.Environment.Remove(variable);
            start.Environment.Remove(variable.ToLowerInvariant());
        }

        foreach (var (key, value) in environment.Concat(EndpointSettings.ProxyEnvironment(plan)))
        {
            start.Environment[key] = value;
        }

        using var shell = Process.Start(start) ?? throw new MachineException("could not start the endpoint");
        var pid = int.Parse((await shell.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false)).Trim(), CultureInfo.InvariantCulture);
        await shell.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(PidFile(plan.CertPath), pid.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);

        var served = false;
        await progress.TrackAsync($"waiting for the endpoint on {plan.Endpoint}", Deciseconds, async report =>
        {
            for (var i = 0; i < Deciseconds && !served; i++)
            {
                report(i);

                // Only whether it lives: while the shell execs into it, its cmdline can read empty.
                if (!IsAlive(pid))
                {
                    throw new MachineException($"the endpoint exited at start:\n{NewLog(plan.CertPath, logStart).Trim()}");
                }

                // Its own word that it serves, not a connect: another process may hold the port.
                served = NewLog(plan.CertPath, logStart).Contains("serving the Docker API on", StringComparison.Ordinal);
                if (!served)
                {
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                }
            }

            report(Deciseconds);
        }).ConfigureAwait(false);
        if (served)
        {
            return;
        }

        // It must not stay behind a create that is being rolled back.
        if (IsAlive(pid))
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
        }

        throw new MachineException($"the endpoint did not serve on {plan.Endpoint} within 30 s:\n{NewLog(plan.CertPath, logStart).Trim()}");
    }

    /// <summary>What the endpoint logged since <paramref name="from"/> (the log is appended to by every start).</summary>
    private static string NewLog(string certPath, long from)
    {
        if (!File.Exists(LogFile(certPath)))
        {
            return "";
        }

        using var log = new FileStream(LogFile(certPath), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        log.Seek(Math.Min(from, log.Length), SeekOrigin.Begin);
        return new StreamReader(log).ReadToEnd();
    }

    /// <summary>Stops the endpoint if it runs; true if it did.</summary>
    public static async Task<bool> StopAsync(string certPath)
    {
        if (!File.Exists(PidFile(certPath)) || !int.TryParse(File.ReadAllText(PidFile(certPath)), CultureInfo.InvariantCulture, out var pid) || !IsRunning(pid))
        {
            return false;
        }

        using var process = Process.GetProcessById(pid);
        process.Kill();
        for (var i = 0; i < 100 && IsRunning(pid); i++)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }

        File.Delete(PidFile(certPath));
        return true;
    }

    public static bool IsRunning(string certPath) =>
        File.Exists(PidFile(certPath)) && int.TryParse(File.ReadAllText(PidFile(certPath)), CultureInfo.InvariantCulture, out var pid) && IsRunning(pid);

    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z' && File.ReadAllText($"/proc/{pid}/cmdline").Contains("vch-endpoint", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
