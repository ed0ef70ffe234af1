namespace DataParallel.Tests.Integration;

/// <summary>Tests that start real coordinator and worker processes run one at a time: the machine has two cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "real processes";
}
