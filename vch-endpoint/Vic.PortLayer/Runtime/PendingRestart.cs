namespace Vic.PortLayer.Runtime;

/// <summary>One restart by policy: its back-off can be called off until its start begins, and no later.</summary>
internal sealed class PendingRestart
{
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _starting;
    private bool _calledOff;

    public CancellationTokenSource Cancel { get; } = new();

    public bool TryBeginStart()
    {
        lock (_started)
        {
            _starting = !_calledOff;
            return _starting;
        }
    }

    public void EndStart() => _started.TrySetResult();

    /// <summary>Calls the restart off and returns null, or returns the start already under way.</summary>
    public Task? TryCallOff()
    {
        lock (_started)
        {
            if (_starting)
            {
                return _started.Task;
            }

            _calledOff = true;
        }

        Cancel.Cancel();
        return null;
    }
}
