using System.Diagnostics;

namespace DataParallel.Tests.Support;

/// <summary>
/// A real file system mounted for one test: a tmpfs small enough to fill, or a read-only bind mount (root ignores
/// permission bits, so chmod cannot make a directory read-only for it). Unmounted when disposed, whatever the test did.
/// Mounting needs root: a test that needs it fails saying so rather than passing without having run.
/// </summary>
public sealed class Mount : IDisposable
{
    private Mount(string directory) => Directory = directory;

    public string Directory { get; }

    public static void RequireRoot()
    {
        // "Uid:	real	effective	saved	filesystem": mounting goes by the effective one.
        var uid = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[2];
        if (uid != "0")
            throw new Xunit.Sdk.XunitException("this test mounts real file systems (a full tmpfs, a read-only bind mount) and must run as root; "
                + $"it runs as uid {uid}");
    }

    /// <summary>A tmpfs of <paramref name="kilobytes"/> KiB at <paramref name="directory"/> (created if missing).</summary>
    public static Mount Tmpfs(string directory, int kilobytes)
    {
        RequireRoot();
        System.IO.Directory.CreateDirectory(directory);
        Run("mount", "-t", "tmpfs", "-o", $"size={kilobytes}k", "tmpfs", directory);
        return new Mount(directory);
    }

    /// <summary><paramref name="source"/>, seen read-only at <paramref name="directory"/>.</summary>
    public static Mount ReadOnly(string source, string directory)
    {
        RequireRoot();
        System.IO.Directory.CreateDirectory(directory);
        Run("mount", "--bind", source, directory);
        var mount = new Mount(directory);
        try
        {
            Run("mount", "-o", "remount,bind,ro", directory);
        }
        catch
        {
            mount.Dispose();
            throw;
        }
        return mount;
    }

    /// <summary>Writes into a file until the file system says it is full; returns the bytes it took.</summary>
    public long Fill()
    {
        var filler = Path.Combine(Directory, "filler");
        var chunk = new byte[4096];
        long written = 0;
        try
        {
            using var stream = new FileStream(filler, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
            while (true)
            {
                stream.Write(chunk);
                written += chunk.Length;
            }
        }
        catch (IOException e) when (e.HResult == 28) // ENOSPC
        {
            return written;
        }
    }

    public void Dispose()
    {
        // A process still holding a file open there (a test that failed mid-way) makes a plain umount fail: detach it.
        if (!TryRun("umount", Directory)) TryRun("umount", "-l", Directory);
    }

    private static void Run(params string[] command)
    {
        var (code, error) = Execute(command);
        if (code != 0) throw new InvalidOperationException($"{string.Join(' ', command)} failed (exit {code}): {error}");
    }

    private static bool TryRun(params string[] command) => Execute(command).Code == 0;

    private static (int Code, string Error) Execute(string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in command.Skip(1)) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error.Trim());
    }
}
