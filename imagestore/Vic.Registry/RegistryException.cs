using System.Net;

namespace Vic.Registry;

/// <summary>Why a registry operation failed, classed so the port layer can answer as dockerd does.</summary>
public enum RegistryErrorKind
{
    /// <summary>The image, tag or blob does not exist (or we may not see it): "manifest unknown".</summary>
    NotFound,

    /// <summary>The credentials were refused.</summary>
    Unauthorized,

    /// <summary>The registry could not be reached or broke the connection more times than we retry.</summary>
    Unavailable,

    /// <summary>What came back is not what was asked for: digest mismatch, bad JSON, unsupported media type.</summary>
    InvalidContent,
}

public sealed class RegistryException : Exception
{
    public RegistryException(RegistryErrorKind kind, string message, Exception? inner = null)
        : base(message, inner) => Kind = kind;

    public RegistryErrorKind Kind { get; }

    public HttpStatusCode? Status { get; init; }
}
