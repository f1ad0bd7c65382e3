using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Vic.Admin.Access;

/// <summary>
/// Who is logged in to vicadmin: an unguessable token per login, held in memory (an endpoint restart
/// logs everyone out), forgotten after <see cref="IdleTimeout"/> without a request.
/// </summary>
public sealed class AdminSessions(TimeProvider time)
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(1);

    /// <summary>More logins than this and the longest-idle is forgotten: a flood of logins cannot grow memory.</summary>
    public const int MaxSessions = 256;

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public string Open(string user)
    {
        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        _sessions[token] = new Session(user, time.GetUtcNow());
        while (_sessions.Count > MaxSessions && _sessions.MinBy(s => s.Value.LastSeen) is { Key: { } oldest })
        {
            _sessions.TryRemove(oldest, out _);
        }

        return token;
    }

    /// <summary>The session's user, and the session kept alive; null when the token is unknown or expired.</summary>
    public string? UserOf(string? token)
    {
        if (token is null || !_sessions.TryGetValue(token, out var session))
        {
            return null;
        }

        var now = time.GetUtcNow();
        if (now - session.LastSeen > IdleTimeout)
        {
            _sessions.TryRemove(token, out _);
            return null;
        }

        _sessions[token] = session with { LastSeen = now };
        return session.User;
    }

    public void Close(string? token)
    {
        if (token is not null)
        {
            _sessions.TryRemove(token, out _);
        }
    }

    private sealed record Session(string User, DateTimeOffset LastSeen);
}
