using Vic.Tether;

// PID 1 of a ContainerVM (started by vic-init), or a host process in tests (--root).

// The channel's reads, the process pumps and the file transfers each hold a pool thread while they
// wait, and a ContainerVM has one vCPU: with the default minimum (one thread a CPU) the next piece of
// work waited for the pool to grow, half a second a thread, in the middle of a clone's start.
ThreadPool.SetMinThreads(16, 16);

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

try
{
    await using var channel = await Tether.OpenChannelAsync(options.Channel).ConfigureAwait(false);
    using var tether = new Tether(options, channel);
    return await tether.RunAsync().ConfigureAwait(false);
}
catch (Exception ex) when (options.InVm)
{
    // PID 1 must not die: that is a kernel panic. Say why on the console and power off.
    Console.Error.WriteLine($"vic-tether: {ex}");
    Tether.PowerOffNow();
    return 1;
}
