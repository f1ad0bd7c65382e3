using System.Security.Cryptography;

namespace Vic.Registry;

/// <summary>sha256 content digests in the <c>sha256:hex</c> form registries use.</summary>
public static class Digests
{
    public static string Sha256(ReadOnlySpan<byte> data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    public static string Format(IncrementalHash hash) => "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());

    /// <summary>Checks the form so a digest can be used in paths and URLs safely.</summary>
    public static bool IsValid(string digest) =>
        digest.Length == 71 && digest.StartsWith("sha256:", StringComparison.Ordinal) && digest[7..].All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    public static string Hex(string digest) =>
        IsValid(digest) ? digest[7..] : throw new FormatException($"invalid digest: {digest}");
}
