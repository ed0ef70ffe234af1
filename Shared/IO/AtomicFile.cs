using System.Text;

namespace DataParallel.Shared.IO;

/// <summary>
/// Writes a file so that a reader (or a process killed mid-write) only ever sees the old or the new content:
/// write a temporary file next to it, flush it to disk, rename it over the target.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temporary); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Writes through a callback that fills a stream (for PNGs and other generated content).</summary>
    public static void Write(string path, Action<Stream> fill)
    {
        using var memory = new MemoryStream();
        fill(memory);
        WriteAllBytes(path, memory.GetBuffer().AsSpan(0, (int)memory.Length));
    }
}
