using Vic.Tether;

// PID 1 of a ContainerVM (started by vic-init), or a host process in tests (--root).
TetherOptions options;
try
{
    options = TetherOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"vic-tether: {ex.Message}");
    return 2;
}

await using var channel = Tether.OpenChannel(options.Channel);
using var tether = new Tether(options, channel);
return await tether.RunAsync().ConfigureAwait(false);
