using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>
/// Tests that start real coordinator and worker processes run one at a time: the machine has two cores. They share one
/// undisturbed run (<see cref="CleanRun"/>), computed once for the whole collection, to compare their results with.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection : ICollectionFixture<CleanRun>
{
    public const string Name = "real processes";
}

/// <summary>
/// The multi-host tests: real processes too, but mostly waiting (10 ms relays, failure detection, the split-brain
/// resolver's stable-after), so they run beside the unit tests rather than after them, one at a time, with their own
/// undisturbed run. Their namespaces and addresses are theirs alone (<see cref="Support.NamespaceNetwork"/>).
/// </summary>
[CollectionDefinition(Name)]
public sealed class MultiHostCollection : ICollectionFixture<CleanRun>
{
    public const string Name = "multi-host processes";
}
