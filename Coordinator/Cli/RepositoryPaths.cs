namespace DataParallel.Coordinator.Cli;

/// <summary>Defaults that point into the repository when run from inside it, and into the current directory otherwise.</summary>
public static class RepositoryPaths
{
    public static string DefaultData()
    {
        var root = FindRoot(Environment.CurrentDirectory) ?? FindRoot(AppContext.BaseDirectory);
        return Path.GetRelativePath(Environment.CurrentDirectory, Path.Combine(root ?? Environment.CurrentDirectory, "data", "mnist"));
    }

    public static string DefaultOut() => Path.Combine("runs", DateTime.Now.ToString("yyyyMMdd-HHmmss"));

    /// <summary>The nearest directory upwards that holds DataParallel.sln.</summary>
    public static string? FindRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DataParallel.sln"))) return dir.FullName;
        return null;
    }
}
