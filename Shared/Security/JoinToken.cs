using System.Security.Cryptography;
using System.Text;

namespace DataParallel.Shared.Security;

/// <summary>
/// Challenge-response on a shared join token: the coordinator sends a fresh nonce, the worker answers with
/// HMAC-SHA256(token, nonce || worker id). The token itself never crosses the wire, and never reaches a log.
/// </summary>
public static class JoinToken
{
    public const string EnvironmentVariable = "DATAPARALLEL_TOKEN";

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(32);

    public static byte[] Prove(string? token, byte[] nonce, string workerId)
    {
        using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(token ?? ""));
        return hmac.ComputeHash([.. nonce, .. Encoding.UTF8.GetBytes(workerId)]);
    }

    public static bool Verify(string? token, byte[] nonce, string workerId, byte[] proof) =>
        CryptographicOperations.FixedTimeEquals(Prove(token, nonce, workerId), proof);

    /// <summary>
    /// The coordinator's answer to a worker's nonce: a different message from a worker's proof (so one can never be
    /// replayed as the other), by which a worker knows it joined the holder of the token and not whoever answered first.
    /// </summary>
    public static byte[] ProveCoordinator(string? token, byte[] nonce, string workerId) => Prove(token, [.. "coordinator:"u8, .. nonce], workerId);

    public static bool VerifyCoordinator(string? token, byte[] nonce, string workerId, byte[]? proof) =>
        proof is not null && CryptographicOperations.FixedTimeEquals(ProveCoordinator(token, nonce, workerId), proof);

    /// <summary>The token from the command line, else from the environment; null when neither is set.</summary>
    public static string? Resolve(string? fromCommandLine) =>
        !string.IsNullOrEmpty(fromCommandLine) ? fromCommandLine : NullIfEmpty(Environment.GetEnvironmentVariable(EnvironmentVariable));

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
