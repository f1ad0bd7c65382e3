using System.Xml.Linq;

namespace Vic.Vim25;

/// <summary>
/// A vSphere fault: a SOAP fault from a call, or the error of a task. <see cref="FaultName"/> is the
/// fault's vim25 type (<c>InvalidLogin</c>, <c>NotAuthenticated</c>, <c>InvalidPowerState</c>, ...).
/// </summary>
public sealed class VimFaultException : Exception
{
    public VimFaultException(string faultName, string message, XElement? detail = null)
        : base(message.Length > 0 ? $"{faultName}: {message}" : faultName)
    {
        FaultName = faultName;
        ServerMessage = message;
        Detail = detail;
    }

    public string FaultName { get; }

    /// <summary>What the server said (faultstring or localizedMessage); may be empty.</summary>
    public string ServerMessage { get; }

    /// <summary>The fault's data object, for callers that need its fields.</summary>
    public XElement? Detail { get; }

    /// <summary>The session is gone (expired, logged out, or never was): log in again and retry.</summary>
    public bool IsNotAuthenticated => FaultName == "NotAuthenticated";
}

/// <summary>The server answered with something that is not a SOAP envelope (an HTTP error, garbage).</summary>
public sealed class VimProtocolException(string message, Exception? inner = null) : Exception(message, inner);
