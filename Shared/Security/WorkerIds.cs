namespace DataParallel.Shared.Security;

/// <summary>What a worker id may be: it goes into CSV files, log lines and file names, so nothing that needs quoting.</summary>
public static class WorkerIds
{
    public const int MaxLength = 64;

    public static bool IsValid(string? id) =>
        id is { Length: > 0 and <= MaxLength } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
