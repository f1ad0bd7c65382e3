namespace Vic.Build.Context;

/// <summary>What a build fetches over HTTP: a remote context (<c>docker build URL</c>) and ADD of a URL.</summary>
public static class RemoteFetch
{
    /// <summary>One client for every fetch: a client per call would leave a socket per build in TIME_WAIT.</summary>
    // One client for the endpoint's life; its connections are made anew every few minutes, so a
    // host whose address changes (DNS) is looked up again rather than reached at its old one.
    private static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) }) { Timeout = TimeSpan.FromMinutes(30) };

    /// <summary>GETs <paramref name="url"/>, headers read and a success status checked; the caller reads and disposes the answer.</summary>
    /// <param name="failure">What a failure's message starts with, as dockerd words it ("ADD failed: ", "unable to prepare context: ").</param>
    /// <exception cref="BuildException">The server could not be reached, did not answer in time, or answered with an error status.</exception>
    public static async Task<HttpResponseMessage> GetAsync(string url, string failure, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new BuildException($"{failure}failed to GET {url}: {ex.Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BuildException($"{failure}failed to GET {url}: no answer in {Http.Timeout.TotalMinutes:0} minutes");
        }

        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                throw new BuildException($"{failure}failed to GET {url} with status {(int)response.StatusCode} {response.ReasonPhrase}");
            }
        }

        return response;
    }
}
