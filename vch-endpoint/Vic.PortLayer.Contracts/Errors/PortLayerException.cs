namespace Vic.PortLayer.Errors;

/// <summary>
/// The classes of failure the port layer reports. They mirror moby's errdefs so the Api can
/// translate each into the HTTP status a docker client expects without knowing any policy.
/// </summary>
public enum ErrorKind
{
    /// <summary>The request itself is malformed or names something invalid (400).</summary>
    InvalidParameter,

    /// <summary>The credentials given were refused (401).</summary>
    Unauthorized,

    /// <summary>The thing named does not exist (404).</summary>
    NotFound,

    /// <summary>The operation is never allowed on this thing, e.g. removing a predefined network (403).</summary>
    Forbidden,

    /// <summary>The thing exists but is in a state that forbids the operation (409).</summary>
    Conflict,

    /// <summary>The operation would change nothing; Docker answers 304 with no body.</summary>
    NotModified,

    /// <summary>A capability this VCH does not offer (yet) (501).</summary>
    NotImplemented,

    /// <summary>A peer we depend on (backend, registry) cannot be reached right now (503).</summary>
    Unavailable,

    /// <summary>Anything we did not foresee (500).</summary>
    System,
}

/// <summary>A refusal or failure with the message a docker client prints after "Error response from daemon:".</summary>
public sealed class PortLayerException : Exception
{
    public PortLayerException(ErrorKind kind, string message, Exception? inner = null)
        : base(message, inner) => Kind = kind;

    public ErrorKind Kind { get; }

    public static PortLayerException NotFound(string message) => new(ErrorKind.NotFound, message);

    public static PortLayerException Conflict(string message) => new(ErrorKind.Conflict, message);

    public static PortLayerException Forbidden(string message) => new(ErrorKind.Forbidden, message);

    public static PortLayerException InvalidParameter(string message) => new(ErrorKind.InvalidParameter, message);

    public static PortLayerException NotModified(string message) => new(ErrorKind.NotModified, message);

    public static PortLayerException NotImplemented(string message) => new(ErrorKind.NotImplemented, message);
}
