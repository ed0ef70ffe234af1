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
