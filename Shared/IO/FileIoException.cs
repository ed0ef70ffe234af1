using System.Runtime.InteropServices;

namespace DataParallel.Shared.IO;

/// <summary>
/// A file that could not be read or written, as one line for an `error:`: "PATH: cannot write: No space left on
/// device". The path is the file the program meant (not the temporary file it was writing), the reason the
/// operating system's, without .NET's repetition of the path.
/// </summary>
public sealed class FileIoException(string path, string message, Exception? inner = null) : IOException($"{path}: {message}", inner)
{
    public string Path { get; } = path;

    /// <summary>The exceptions the file system raises: a full disk, a read-only mount, a denied permission, a device error.</summary>
    public static bool IsIo(Exception e) => e is IOException or UnauthorizedAccessException;

    public static FileIoException Writing(string path, Exception e) => e as FileIoException ?? new(path, $"cannot write: {Reason(e)}", e);

    public static FileIoException Reading(string path, Exception e) => e as FileIoException ?? new(path, $"cannot read: {Reason(e)}", e);

    /// <summary>What went wrong, in the operating system's words where it gave them.</summary>
    public static string Reason(Exception e) => e switch
    {
        // On Unix, .NET puts the errno of a failed call into HResult and the path into the message.
        IOException { HResult: > 0 and < 4096 } io => Marshal.GetPInvokeErrorMessage(io.HResult),
        UnauthorizedAccessException => "permission denied",
        FileNotFoundException or DirectoryNotFoundException => "no such file or directory",
        _ => e.Message,
    };

    /// <summary>One line for any I/O exception, "PATH: REASON" where the path is known.</summary>
    public static string Describe(Exception e)
    {
        if (e is FileIoException f) return f.Message;
        // .NET on Unix: "Read-only file system : '/runs/x'".
        var quote = e.Message.LastIndexOf(" : '", StringComparison.Ordinal);
        return quote > 0 && e.Message.EndsWith('\'') ? $"{e.Message[(quote + 4)..^1]}: {Reason(e)}" : e.Message;
    }
}
