namespace Vic.TestSupport;

/// <summary>Polls a condition that a real peer makes true in its own time.</summary>
public static class Eventually
{
    /// <summary>Checks every 100 ms until the condition holds; throws after <paramref name="limit"/> (60 s by default).</summary>
    public static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(60));
        while (!await condition().ConfigureAwait(false))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the condition never came true");
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }
}
