using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;
using Vic.Vim25.Soap;

namespace Vic.Vim25;

/// <summary>
/// One logged-in session with a vSphere endpoint over its SOAP API. The session is the
/// <c>vmware_soap_session</c> cookie; a call that meets <c>NotAuthenticated</c> (the session expired
/// or was ended by an admin) logs in again once and is retried, and an idle session is kept alive
/// with <c>CurrentTime</c>. Thread-safe: calls may run concurrently.
/// </summary>
public sealed partial class VimSession : IAsyncDisposable
{
    private static readonly ManagedObjectReference Instance = new("ServiceInstance", "ServiceInstance");

    private readonly VimSessionConfig _config;
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _login = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task _keepAlive = Task.CompletedTask;
    private string _apiVersion = "6.5";
    private int _loginGeneration;
    private ServiceContent? _content;

    private VimSession(VimSessionConfig config, HttpMessageHandler handler, ILogger logger, TimeProvider time)
    {
        _config = config;
        _logger = logger;
        _time = time;
        _http = new HttpClient(handler) { Timeout = config.CallTimeout };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(config.UserAgent);
    }

    /// <summary>What the server offers: its managers and what it is (<c>about</c>).</summary>
    public ServiceContent Content => _content ?? throw new InvalidOperationException("not connected");

    /// <summary>The session's key once logged in; changes when the session is re-established.</summary>
    public string? SessionKey { get; private set; }

    /// <summary>How many times this session has logged in (1 after connect; more after expiries).</summary>
    public int Logins => _loginGeneration;

    /// <summary>Connects and logs in; a wrong password or an untrusted certificate fails here.</summary>
    public static async Task<VimSession> ConnectAsync(VimSessionConfig config, ILogger logger, CancellationToken cancellationToken, TimeProvider? time = null, HttpMessageHandler? handler = null)
    {
        var session = new VimSession(config, handler ?? HandlerFor(config), logger, time ?? TimeProvider.System);
        try
        {
            var content = await session.CallAsync("RetrieveServiceContent", Instance, [], retry: false, cancellationToken).ConfigureAwait(false);
            session._content = ServiceContent.Parse(content.Single());
            session._apiVersion = session._content.About.ApiVersion;
            await session.LoginAsync(0, cancellationToken).ConfigureAwait(false);
            session._keepAlive = Task.Run(session.KeepAliveAsync, CancellationToken.None);
            return session;
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Calls <paramref name="method"/> on <paramref name="target"/>; returns the <c>returnval</c>
    /// elements. Faults are thrown as <see cref="VimFaultException"/>.
    /// </summary>
    public Task<IReadOnlyList<XElement>> InvokeAsync(string method, ManagedObjectReference target, IEnumerable<XElement?> arguments, CancellationToken cancellationToken) =>
        CallAsync(method, target, [.. arguments], retry: true, cancellationToken);

    /// <summary>A call with exactly one result, read by <paramref name="read"/>.</summary>
    public async Task<T> InvokeAsync<T>(string method, ManagedObjectReference target, IEnumerable<XElement?> arguments, Func<XElement, T> read, CancellationToken cancellationToken)
    {
        var result = await InvokeAsync(method, target, arguments, cancellationToken).ConfigureAwait(false);
        return result.Count == 1 ? read(result[0]) : throw new VimProtocolException($"{method} returned {result.Count} values, expected one");
    }

    /// <summary>The session cookie, for the datastore's HTTP file access (<c>/folder</c>).</summary>
    internal HttpClient Http => _http;

    internal Uri Sdk => _config.Sdk;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _keepAlive.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (SessionKey is not null && _content is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await CallAsync("Logout", _content.SessionManager, [], retry: false, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is VimFaultException or VimProtocolException or HttpRequestException or OperationCanceledException)
            {
                // The server may be gone; the session ends with its timeout then.
            }
        }

        _http.Dispose();
        _stop.Dispose();
        _login.Dispose();
    }

    private async Task<IReadOnlyList<XElement>> CallAsync(string method, ManagedObjectReference target, IReadOnlyList<XElement?> arguments, bool retry, CancellationToken cancellationToken)
    {
        var generation = _loginGeneration;
        try
        {
            return await PostAsync(method, target, arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (VimFaultException fault) when (retry && fault.IsNotAuthenticated && SessionKey is not null)
        {
            Log.SessionLost(_logger, method);
            await LoginAsync(generation, cancellationToken).ConfigureAwait(false);
            return await PostAsync(method, target, arguments, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<IReadOnlyList<XElement>> PostAsync(string method, ManagedObjectReference target, IReadOnlyList<XElement?> arguments, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _config.Sdk)
        {
            Content = new StringContent(SoapEnvelope.Request(method, target, arguments), Encoding.UTF8, "text/xml"),
        };
        request.Headers.TryAddWithoutValidation("SOAPAction", $"\"urn:vim25/{_apiVersion}\"");
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);

        // Faults come with 500; anything else that is not 200 is the transport failing.
        if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.InternalServerError))
        {
            throw new VimProtocolException($"{method}: the server answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        }

        return SoapEnvelope.ReadResponse(body, method);
    }

    /// <summary>Logs in unless another caller already did since <paramref name="seenGeneration"/>.</summary>
    private async Task LoginAsync(int seenGeneration, CancellationToken cancellationToken)
    {
        await _login.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_loginGeneration != seenGeneration)
            {
                return;
            }

            var session = await CallAsync(
                "Login",
                Content.SessionManager,
                [VimXml.E("userName", _config.UserName), VimXml.E("password", _config.Password)],
                retry: false,
                cancellationToken).ConfigureAwait(false);
            SessionKey = session.Single().ChildText("key");
            _loginGeneration++;
            Log.LoggedIn(_logger, _config.Sdk.Host, _config.UserName, _loginGeneration);
        }
        finally
        {
            _login.Release();
        }
    }

    private async Task KeepAliveAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_config.KeepAlive, _time, _stop.Token).ConfigureAwait(false);
                await InvokeAsync("CurrentTime", Instance, [], _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is VimFaultException or VimProtocolException or HttpRequestException)
            {
                Log.KeepAliveFailed(_logger, ex.Message);
            }
        }
    }

    private static SocketsHttpHandler HandlerFor(VimSessionConfig config) => new()
    {
        // vCenter and ESXi are reached directly: the VCH's proxies are for registries and downloads.
        UseProxy = false,
        UseCookies = true,
        CookieContainer = new CookieContainer(),
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                config.Insecure
                || errors == SslPolicyErrors.None
                || (config.Thumbprint is { } expected && certificate is not null && MatchesThumbprint(certificate, expected)),
        },
    };

    /// <summary>True when <paramref name="expected"/> is the certificate's SHA-1 or SHA-256, with or without colons.</summary>
    public static bool MatchesThumbprint(X509Certificate certificate, string expected)
    {
        var wanted = expected.Replace(":", "", StringComparison.Ordinal).Trim();
        var raw = certificate.GetRawCertData();

        // SHA-1 identifies, it does not protect: it is the thumbprint vSphere and VIC show admins.
#pragma warning disable CA5350
        var sha1 = SHA1.HashData(raw);
#pragma warning restore CA5350
        return string.Equals(Convert.ToHexString(sha1), wanted, StringComparison.OrdinalIgnoreCase)
            || string.Equals(Convert.ToHexString(SHA256.HashData(raw)), wanted, StringComparison.OrdinalIgnoreCase);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "vSphere session to {Host} as {User} established (login {Count})")]
        public static partial void LoggedIn(ILogger logger, string host, string user, int count);

        [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "vSphere session lost during {Method}; logging in again")]
        public static partial void SessionLost(ILogger logger, string method);

        [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "vSphere keep-alive failed: {Reason}")]
        public static partial void KeepAliveFailed(ILogger logger, string reason);
    }
}
