namespace DataParallel.Coordinator.Launch;

/// <summary>
/// Holds a run before (Epoch, Step) until <paramref name="Joins"/> worker joins have been accepted since it started
/// (a worker that rejoins counts again). Tests use it to make an event happen during a run by construction, instead of
/// betting that a run lasts longer than a process takes to start.
/// </summary>
public sealed record JoinGate(int Joins, int Epoch, int Step)
{
    public static bool TryParse(string text, out JoinGate? gate)
    {
        gate = null;
        var at = text.Split('@');
        if (at.Length != 2) return false;
        var position = at[1].Split(':');
        if (position.Length != 2 || !int.TryParse(at[0], out var joins)
            || !int.TryParse(position[0], out var epoch) || !int.TryParse(position[1], out var step)
            || joins < 1 || epoch < 1 || step < 0) return false;
        gate = new JoinGate(joins, epoch, step);
        return true;
    }

    public bool Holds(int epoch, int step, int joins) => joins < Joins && (epoch, step).CompareTo((Epoch, Step)) >= 0;
}
