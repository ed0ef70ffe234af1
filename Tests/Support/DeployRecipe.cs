using System.CommandLine;
using System.Text.RegularExpressions;
using DataParallel.Coordinator.Cli;
using DataParallel.Worker;
using YamlDotNet.RepresentationModel;

namespace DataParallel.Tests.Support;

/// <summary>
/// Reads the deploy recipes (compose.yaml, k8s/*.yaml) and checks a container's arguments the way the image runs
/// them: the entrypoint's role word, then the program's own System.CommandLine tree.
/// </summary>
public static partial class DeployRecipe
{
    public static string Deploy => Path.Combine(Repository.Root, "deploy");

    public static IReadOnlyList<YamlMappingNode> Documents(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Deploy, relativePath));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    public static YamlNode? Child(this YamlNode node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    public static YamlNode At(this YamlNode node, params string[] keys)
    {
        var current = node;
        foreach (var key in keys)
            current = current.Child(key) ?? throw new Xunit.Sdk.XunitException($"no '{key}' in {string.Join('.', keys)}");
        return current;
    }

    public static string Text(this YamlNode node) => ((YamlScalarNode)node).Value ?? "";

    public static List<string> Strings(this YamlNode node) => ((YamlSequenceNode)node).Children.Select(Text).ToList();

    public static IEnumerable<(string Key, YamlNode Value)> Entries(this YamlNode node) =>
        ((YamlMappingNode)node).Children.Select(kv => (kv.Key.Text(), kv.Value));

    /// <summary>The value after <paramref name="flag"/>, or null.</summary>
    public static string? ValueOf(IReadOnlyList<string> args, string flag)
    {
        var i = args.ToList().IndexOf(flag);
        return i >= 0 && i + 1 < args.Count ? args[i + 1] : null;
    }

    /// <summary>Compose's <c>${VAR:-default}</c> becomes its default, as with the variable unset.</summary>
    public static string ComposeDefaults(string value) => ComposeVariable().Replace(value, m => m.Groups[2].Value);

    [GeneratedRegex(@"\$\{([A-Z_]+):-([^}]*)\}")]
    private static partial Regex ComposeVariable();

    /// <summary>Kubernetes' <c>$(VAR)</c> in args becomes <paramref name="values"/>[VAR]; an unknown one fails.</summary>
    public static string KubernetesExpand(string value, IReadOnlyDictionary<string, string> values) =>
        KubernetesVariable().Replace(value, m => values.TryGetValue(m.Groups[1].Value, out var v) ? v
            : throw new Xunit.Sdk.XunitException($"$({m.Groups[1].Value}) is not defined in the container's env"));

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex KubernetesVariable();

    /// <summary>
    /// What the entrypoint (deploy/entrypoint.sh) runs for <paramref name="args"/>: one command line per possible
    /// program start, the role word removed. train-or-resume yields both its first start and its restart.
    /// </summary>
    public static IReadOnlyList<(string Program, string[] Args)> ProgramStarts(IReadOnlyList<string> args)
    {
        Assert.NotEmpty(args);
        var rest = args.Skip(1).ToArray();
        switch (args[0])
        {
            case "coordinator": return [("coordinator", rest)];
            case "worker": return [("worker", rest)];
            case "train-or-resume":
                var dir = rest[0];
                var split = Array.IndexOf(rest, "--");
                Assert.True(split > 0, "train-or-resume needs DIR LAUNCH_ARGS -- SETTINGS");
                var launch = rest[1..split];
                var settings = rest[(split + 1)..];
                return [("coordinator", ["train", "--out", dir, .. launch, .. settings]), ("coordinator", ["train", "--resume", dir, .. launch])];
            default: throw new Xunit.Sdk.XunitException($"'{args[0]}' is not a role of deploy/entrypoint.sh");
        }
    }

    /// <summary>Parses a program start with the program's own command tree; fails with every error it reports.</summary>
    public static ParseResult Parse(string program, string[] args)
    {
        RootCommand root = program == "coordinator" ? CoordinatorCommands.Create() : WorkerCommand.Create();
        var result = root.Parse(args);
        Assert.True(result.Errors.Count == 0,
            $"{program} {string.Join(' ', args)}:\n  {string.Join("\n  ", result.Errors.Select(e => e.Message))}");
        return result;
    }

    /// <summary>The variables a recipe may set: the programs' own, and the entrypoint's.</summary>
    public static bool IsKnownVariable(string name)
    {
        if (name is Shared.Security.JoinToken.EnvironmentVariable or Shared.Cluster.ClusterTls.PasswordVariable) return true;
        // The entrypoint's variables are those it reads as ${NAME...}.
        return File.ReadAllText(Path.Combine(Deploy, "entrypoint.sh")).Contains("${" + name, StringComparison.Ordinal);
    }
}
