using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Vic.Registry;

/// <summary>How a session's requests travel: the endpoint that answers, the auth challenges, the errors told as a user can read them.</summary>
public sealed partial class RegistrySession
{
    /// <summary>
    /// Sends a request to the current endpoint, moving to the next one when an endpoint cannot be
    /// reached, and answering one auth challenge per request.
    /// </summary>
    internal async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> build, string? scope, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                var response = await SendOnceAsync(build, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.Unauthorized)
                {
                    return response;
                }

                var challenge = AuthChallenge.Parse(response.Headers.WwwAuthenticate.ToString());
                response.Dispose();
                _authorization = await AuthorizeAsync(challenge, scope, cancellationToken).ConfigureAwait(false);
                var retried = await SendOnceAsync(build, cancellationToken).ConfigureAwait(false);
                if (retried.StatusCode == HttpStatusCode.Unauthorized)
                {
                    retried.Dispose();
                    throw new RegistryException(
                        RegistryErrorKind.Unauthorized,
                        _credentials is null or { IsEmpty: true }
                            ? $"pull access denied for {Reference.FamiliarName}, repository does not exist or may require 'docker login'"
                            : $"unauthorized: authentication required for {Reference.FamiliarName}")
                    {
                        Status = HttpStatusCode.Unauthorized,
                    };
                }

                return retried;
            }
            catch (HttpRequestException ex) when (_endpoint + 1 < _endpoints.Count)
            {
                RegistryClient.Log.EndpointFailed(_client.Logger, Endpoint, Describe(ex));
                _endpoint++;
                _authorization = null;
            }
            catch (HttpRequestException ex)
            {
                throw new RegistryException(RegistryErrorKind.Unavailable, $"Get \"{Endpoint}v2/\": {Describe(ex)}", ex);
            }
        }
    }

    private async Task<HttpResponseMessage> SendOnceAsync(Func<HttpRequestMessage> build, CancellationToken cancellationToken)
    {
        using var request = build();
        if (!request.RequestUri!.IsAbsoluteUri)
        {
            request.RequestUri = new Uri(Endpoint, request.RequestUri);
        }

        request.Headers.Authorization = _authorization;
        request.Headers.UserAgent.ParseAdd("vic-csharp/0.1");
        return await _client.ClientFor(Endpoint).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
    }

    private async Task<AuthenticationHeaderValue?> AuthorizeAsync(AuthChallenge? challenge, string? scope, CancellationToken cancellationToken)
    {
        if (challenge is { IsBasic: true })
        {
            return BasicAuthorization();
        }

        if (challenge is not { IsBearer: true, Realm: { } realm })
        {
            return BasicAuthorization();
        }

        var query = new List<string>();
        if (challenge.Parameters.TryGetValue("service", out var service))
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }

        if ((scope ?? challenge.Parameters.GetValueOrDefault("scope")) is { } wanted)
        {
            query.Add("scope=" + Uri.EscapeDataString(wanted));
        }

        var tokenUri = new Uri(realm + (realm.Contains('?', StringComparison.Ordinal) ? "&" : "?") + string.Join('&', query));
        using var request = new HttpRequestMessage(HttpMethod.Get, tokenUri);
        request.Headers.Authorization = BasicAuthorization();
        using var response = await _client.ClientFor(tokenUri).SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new RegistryException(RegistryErrorKind.Unauthorized, $"token server {tokenUri.Authority} refused: {(int)response.StatusCode} {response.ReasonPhrase}")
            {
                Status = response.StatusCode,
            };
        }

        using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false));
        var token = json.RootElement.TryGetProperty("token", out var t) ? t.GetString()
            : json.RootElement.TryGetProperty("access_token", out var a) ? a.GetString()
            : null;
        return token is null
            ? throw new RegistryException(RegistryErrorKind.Unauthorized, $"token server {tokenUri.Authority} answered without a token")
            : new AuthenticationHeaderValue("Bearer", token);
    }

    private AuthenticationHeaderValue? BasicAuthorization() =>
        _credentials is { Username: { Length: > 0 } user } credentials
            ? new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{credentials.Password}")))
            : null;

    /// <summary>
    /// The messages of an exception and its causes: a TLS failure says "see inner exception", and
    /// the inner one (e.g. an untrusted certificate chain) is what a user needs to read.
    /// </summary>
    private static string Describe(Exception exception)
    {
        var messages = new List<string>();
        for (var current = exception; current is not null; current = current.InnerException)
        {
            // .NET's proxy-tunnel message ends in a stray quote ("... status code '407'.\""): dropped with the period.
            var message = current.Message.Replace(", see inner exception.", "", StringComparison.Ordinal);
            messages.Add((message.EndsWith("'.\"", StringComparison.Ordinal) ? message[..^1] : message).TrimEnd('.'));
        }

        return string.Join(": ", messages.Distinct());
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        var kind = response.StatusCode switch
        {
            HttpStatusCode.NotFound => RegistryErrorKind.NotFound,
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => RegistryErrorKind.Unauthorized,
            >= HttpStatusCode.InternalServerError => RegistryErrorKind.Unavailable,
            _ => RegistryErrorKind.InvalidContent,
        };
        throw new RegistryException(kind, $"{what}: {(int)response.StatusCode} {response.ReasonPhrase}: {body.Trim()}") { Status = response.StatusCode };
    }
}
