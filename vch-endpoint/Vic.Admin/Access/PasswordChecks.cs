using System.Security.Cryptography;
using System.Text;

namespace Vic.Admin.Access;

/// <summary>Checks a user name and password typed into vicadmin's login form.</summary>
public interface IAdminPasswordCheck
{
    /// <summary>What the login page names as the account to use ("the VCH's admin password file", "vSphere").</summary>
    string Source { get; }

    Task<bool> CheckAsync(string user, string password, CancellationToken cancellationToken);
}

/// <summary>
/// The local backend's logins: a file of <c>user:password</c> lines that only the endpoint's user can
/// read (as <c>make up</c> writes it). Read at each login, so an admin changes a password without a restart.
/// </summary>
public sealed class PasswordFileCheck(string path) : IAdminPasswordCheck
{
    public string Path { get; } = path;

    public string Source => $"an account in {Path}";

    public async Task<bool> CheckAsync(string user, string password, CancellationToken cancellationToken)
    {
        if (user.Length == 0 || password.Length == 0 || !File.Exists(Path))
        {
            return false;
        }

        var lines = await File.ReadAllLinesAsync(Path, cancellationToken).ConfigureAwait(false);
        var matched = false;
        foreach (var line in lines)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (line.StartsWith('#') || colon <= 0)
            {
                continue;
            }

            // Every line is compared, in fixed time, so the answer's timing tells nothing about which part was wrong.
            matched |= FixedTimeEquals(line[..colon], user) & FixedTimeEquals(line[(colon + 1)..].TrimEnd('\r'), password);
        }

        return matched;
    }

    private static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(a)), SHA256.HashData(Encoding.UTF8.GetBytes(b)));
}
