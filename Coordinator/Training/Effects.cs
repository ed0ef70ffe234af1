using DataParallel.Shared.Protocol;
using DataParallel.Shared.Training;

namespace DataParallel.Coordinator.Training;

/// <summary>
/// What a <see cref="StepScheduler"/> decision asks of its actor: messages to send, events to report, workers to
/// down, and whether the phase completed or the run must stop. The scheduler decides, the actor only carries it out.
/// </summary>
public sealed class Effects
{
    public List<(RegisteredWorker To, IProtocolMessage Message)> Sends { get; } = new();
    /// <summary>Events for the reporter (<see cref="Reporting.RunEvents"/>' records).</summary>
    public List<object> Reports { get; } = new();
    /// <summary>Workers given up for silence: their nodes are downed, so a live one comes back as a new member.</summary>
    public List<RegisteredWorker> Downed { get; } = new();
    /// <summary>Set when a training phase (a step, or a round of local steps) was applied: its mean loss and images.</summary>
    public (double Loss, int Examples)? Trained { get; set; }
    /// <summary>Set when the evaluation of an epoch is complete: the test set's sums.</summary>
    public EvaluationResult? Evaluated { get; set; }
    /// <summary>Set when the run cannot go on.</summary>
    public RunFailure? Failure { get; set; }
}

public sealed record RunFailure(string Reason, int ExitCode);
