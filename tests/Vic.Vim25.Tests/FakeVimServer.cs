using System.Net;
using System.Text;

namespace Vic.Vim25.Tests;

/// <summary>
/// A programmable vSphere peer inside the test: it answers each SOAP method from the golden
/// samples (or with what the test scripts), records every request body, and can misbehave on
/// command: refuse a call with a fault, answer garbage, answer an HTTP error, or stall.
/// </summary>
internal sealed class FakeVimServer : HttpMessageHandler
{
    private readonly Dictionary<string, Queue<Func<HttpResponseMessage>>> _scripted = new(StringComparer.Ordinal);

    private readonly Dictionary<string, TimeSpan> _stalls = new(StringComparer.Ordinal);

    public List<(string Method, string Body, string? Cookie, string? SoapAction)> Requests { get; } = [];

    public static string Golden(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", name));

    /// <summary>The next call of <paramref name="method"/> gets this answer instead of the golden one.</summary>
    public void Next(string method, Func<HttpResponseMessage> answer)
    {
        if (!_scripted.TryGetValue(method, out var queue))
        {
            _scripted[method] = queue = new Queue<Func<HttpResponseMessage>>();
        }

        queue.Enqueue(answer);
    }

    /// <summary>The next call of <paramref name="method"/> gets no answer for <paramref name="delay"/>.</summary>
    public void NextStall(string method, TimeSpan delay) => _stalls[method] = delay;

    public void NextFault(string method, string goldenFault) => Next(method, () => Xml(HttpStatusCode.InternalServerError, Golden(goldenFault)));

    public static HttpResponseMessage Xml(HttpStatusCode status, string body) =>
        new(status) { Content = new StringContent(body, Encoding.UTF8, "text/xml") };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = await request.Content!.ReadAsStringAsync(cancellationToken);
        var method = MethodOf(body);
        request.Headers.TryGetValues("Cookie", out var cookies);
        request.Headers.TryGetValues("SOAPAction", out var actions);
        Requests.Add((method, body, cookies?.FirstOrDefault(), actions?.FirstOrDefault()));
        if (_stalls.Remove(method, out var stall))
        {
            await Task.Delay(stall, cancellationToken);
        }

        if (_scripted.TryGetValue(method, out var queue) && queue.Count > 0)
        {
            return queue.Dequeue()();
        }

        var response = Xml(HttpStatusCode.OK, Golden($"{method}.response.xml"));
        if (method == "Login")
        {
            response.Headers.Add("Set-Cookie", "vmware_soap_session=11111111-2222-4333-8444-555555555555; HttpOnly");
        }

        return response;
    }

    /// <summary>The method is the first element inside soapenv:Body.</summary>
    private static string MethodOf(string body)
    {
        var start = body.IndexOf("<soapenv:Body><", StringComparison.Ordinal) + "<soapenv:Body><".Length;
        var end = body.IndexOfAny([' ', '>'], start);
        return body[start..end];
    }
}
