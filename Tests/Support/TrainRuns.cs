using System.Text.Json;
using System.Text.RegularExpressions;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Support;

/// <summary>Runs `Coordinator train` as a real process and reads what it printed and wrote.</summary>
public static partial class TrainRuns
{
    public sealed record Outcome(int ExitCode, string Stdout, string Stderr, string RunDirectory)
    {
        public string Sha256 => ShaLine().Match(Stdout) is { Success: true } m ? m.Groups[1].Value
            : throw new Xunit.Sdk.XunitException($"no 'Final parameters' line (exit {ExitCode})\nstdout:\n{Stdout}\nstderr:\n{Stderr}");

        public JsonElement Result => JsonDocument.Parse(File.ReadAllText(Path.Combine(RunDirectory, "result.json"))).RootElement;
    }

    public static Outcome Train(IEnumerable<string> args, TimeSpan? timeout = null, IDictionary<string, string?>? environment = null)
    {
        var dir = Path.Combine(Repository.NewTempDirectory("run"), "run");
        var all = new List<string> { "train", "--data", Repository.MnistDirectory, "--out", dir };
        all.AddRange(args);
        var (code, stdout, stderr) = ProgramProcess.Run("Coordinator", all, timeout ?? TimeSpan.FromMinutes(5), environment: environment);
        return new Outcome(code, stdout, stderr, dir);
    }

    [GeneratedRegex(@"Final parameters: sha256 ([0-9a-f]{64})")]
    private static partial Regex ShaLine();
}
