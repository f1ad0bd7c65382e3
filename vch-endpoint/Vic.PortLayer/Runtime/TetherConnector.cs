using Microsoft.Extensions.Logging;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>How the tether answered the Attach that opens every conversation with it.</summary>
internal enum TetherAnswer
{
    /// <summary>Hello: it waits for its spec.</summary>
    Hello,

    /// <summary>State: it runs a container and reported its sessions.</summary>
    State,

    /// <summary>The channel ended before an answer (the VM is gone or going).</summary>
    ChannelEnded,

    /// <summary>No answer on any of the connections tried.</summary>
    Silent,
}

/// <summary>
/// Opens the channel to a ContainerVM's tether, puts a <see cref="RunPump"/> on it from its first
/// frame, and learns from the tether's answer to Attach whether it waits for a spec or runs a container.
/// </summary>
/// <param name="answerTimeout">How long a connection waits for the tether's answer before a fresh one is tried; 10 s when null.</param>
internal sealed partial class TetherConnector(ContainerRuntimeTable runtime, RunPump pump, ILogger logger, TimeSpan? answerTimeout = null)
{
    private readonly TimeSpan _answerTimeout = answerTimeout ?? TimeSpan.FromSeconds(10);

    /// <summary>
    /// Connects to the tether and asks it to Attach before anything else is sent. A connection the
    /// guest never hears about (seen right after a restore and across reconnects) gets no answer;
    /// it is dropped and a fresh one made, which tells the guest anew that the host is there.
    /// </summary>
    /// <remarks>
    /// A files-only connection (serving a stopped container's files) is not the container's run: it
    /// is not registered and its end ends nothing. A <paramref name="starting"/> connection holds the
    /// main process's exit back until the start settles it (<see cref="RunningContainer.StartSettled"/>).
    /// </remarks>
    public async Task<(RunningContainer? Running, TetherAnswer Answer)> ConnectAsync(IVmChannels backend, string id, ContainerLog log, CancellationToken cancellationToken, bool filesOnly = false, bool starting = false)
    {
        for (var attempt = 0; attempt < 4; attempt++)
        {
            Stream channel;
            try
            {
                channel = await backend.OpenChannelAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is PortLayerException or IOException or System.Net.Sockets.SocketException or TimeoutException)
            {
                return (null, TetherAnswer.ChannelEnded);
            }

            var running = new RunningContainer(channel, id) { Abandoned = filesOnly };
            if (!starting)
            {
                running.StartSettled.TrySetResult();
            }

            if (!filesOnly)
            {
                runtime.Of(id).Running = running;
                log.Open();
            }

            // The pump reads from the first frame: an Exit that waited in the VM may come before the
            // answer, and the pump finishes the container with it.
            running.Pump = Task.Run(() => pump.PumpAsync(running, log), CancellationToken.None);
            try
            {
                var greeting = await running.Tether.AttachAsync(_answerTimeout, cancellationToken).ConfigureAwait(false);
                running.TetherVersion = greeting.Hello?.Version ?? Math.Max(greeting.State?.Version ?? 1, 1);
                return (running, greeting.State is not null ? TetherAnswer.State : TetherAnswer.Hello);
            }
            catch (TetherClosedException)
            {
                return (null, TetherAnswer.ChannelEnded);
            }
            catch (TimeoutException)
            {
                Log.TetherSilent(logger, id, attempt + 1);
                await LetGoAsync(running).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await LetGoAsync(running).ConfigureAwait(false);
                throw;
            }
        }

        return (null, TetherAnswer.Silent);
    }

    /// <summary>Lets go of a channel whose end is not the container's end.</summary>
    public async Task LetGoAsync(RunningContainer running)
    {
        running.Abandoned = true;
        runtime.Find(running.ContainerId)?.ClearRunning(running);
        running.Dispose();
        await running.Pump!.ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "container {Id}: the tether did not answer on connection {Attempt}; reconnecting")]
        public static partial void TetherSilent(ILogger logger, string id, int attempt);
    }
}
