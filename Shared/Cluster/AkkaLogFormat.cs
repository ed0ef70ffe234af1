using Akka.Event;

namespace DataParallel.Shared.Cluster;

/// <summary>One line per Akka log event, the same on the coordinator and the workers.</summary>
public static class AkkaLogFormat
{
    /// <summary>
    /// "warning: message [/user/coordinator]" and the cause's type and message. Akka puts whole exceptions into some
    /// messages; their stack traces, and the cause's, are shown with --verbose only.
    /// </summary>
    public static string Format(string level, LogEvent e, bool withStackTraces)
    {
        var message = e.Message?.ToString() ?? "";
        var line = $"{level}: {(withStackTraces ? message : FirstLine(message))} [{Source(e.LogSource)}]";
        // Akka's own exceptions (a connection dropped, a node gone) say all they have in their first line; anything
        // else reaching the log is a bug somewhere, and its stack trace is the only clue.
        var full = withStackTraces || (e.Cause is { } c && !(c.GetType().Namespace ?? "").StartsWith("Akka", StringComparison.Ordinal));
        if (e.Cause is { } cause) line += full ? $"\n{cause}" : $": {cause.GetType().Name}: {FirstLine(cause.Message)}";
        return line;
    }

    private static string FirstLine(string text) =>
        text.IndexOf('\n') is var newline and >= 0 ? text[..newline].TrimEnd('\r') + " ..." : text;

    /// <summary>An actor path without its address ("/user/coordinator"): a node's own address says nothing in its own log.</summary>
    private static string Source(string? source)
    {
        if (string.IsNullOrEmpty(source)) return "akka";
        var scheme = source.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return source;
        var path = source.IndexOf('/', scheme + 3);
        return path < 0 ? source : source[path..];
    }

}
