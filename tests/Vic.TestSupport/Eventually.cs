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

    /// <summary>
    /// Reads every 100 ms until the value is what <paramref name="done"/> wants, or the time is up;
    /// returns the last value read either way, so the assertion that follows shows what was seen.
    /// </summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var value = await read().ConfigureAwait(false);
            if (done(value) || DateTime.UtcNow > deadline)
            {
                return value;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }
}
