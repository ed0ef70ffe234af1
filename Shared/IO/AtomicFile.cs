using System.Text;

namespace DataParallel.Shared.IO;

/// <summary>
/// Writes a file so that a reader (or a process killed mid-write) only ever sees the old or the new content:
/// write a temporary file next to it, flush it to disk, rename it over the target. A write that fails (a full disk,
/// a read-only mount) leaves the old content and throws a <see cref="FileIoException"/> naming the target.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(directory);
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (FileIoException.IsIo(e))
        {
            try { File.Delete(temporary); } catch (Exception d) when (FileIoException.IsIo(d)) { }
            throw FileIoException.Writing(path, e);
        }
    }

    /// <summary>Writes through a callback that fills a stream (for PNGs and other generated content).</summary>
    public static void Write(string path, Action<Stream> fill)
    {
        using var memory = new MemoryStream();
        fill(memory);
        WriteAllBytes(path, memory.GetBuffer().AsSpan(0, (int)memory.Length));
    }

    /// <summary>
    /// Removes the temporary files that a writer killed mid-write left in <paramref name="directory"/> (their process
    /// is gone): nobody reads them, and they would pile up with every SIGKILL. Returns how many were removed.
    /// </summary>
    public static int RemoveLeftovers(string directory)
    {
        if (!Directory.Exists(directory)) return 0;
        var removed = 0;
        foreach (var file in Directory.GetFiles(directory, ".*.tmp"))
        {
            // .{name}.{pid}.{guid}.tmp
            var parts = Path.GetFileName(file).Split('.');
            if (parts.Length < 5 || !int.TryParse(parts[^3], out var pid) || pid == Environment.ProcessId || Alive(pid)) continue;
            try
            {
                File.Delete(file);
                removed++;
            }
            catch (Exception e) when (FileIoException.IsIo(e)) { }
        }
        return removed;
    }

    private static bool Alive(int pid)
    {
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
    }
}
