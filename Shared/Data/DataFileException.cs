namespace DataParallel.Shared.Data;

/// <summary>A data file that cannot be used; the message names the file and what is wrong, on one line.</summary>
public sealed class DataFileException(string file, string problem) : Exception($"{file}: {problem}")
{
    public string File { get; } = file;
    public string Problem { get; } = problem;
}
