namespace DataParallel.Coordinator.Training;

/// <summary>
/// Which units of the current phase (micro-batches of a step, chunks of an evaluation, replicas of a round)
/// are pending, with whom, and which are done. Pure state, no actors: the coordinator asks it what to send
/// and tells it what came back. A unit can be in flight with two workers at once (a straggler's copy);
/// the first valid result completes it and the other is ignored.
/// </summary>
public sealed class WorkAssignment
{
    private readonly bool[] _done;
    private readonly SortedSet<int> _pending;
    private readonly Dictionary<string, Dictionary<int, DateTime>> _inFlight = new();

    public WorkAssignment(int units)
    {
        if (units <= 0) throw new ArgumentOutOfRangeException(nameof(units));
        _done = new bool[units];
        _pending = new SortedSet<int>(Enumerable.Range(0, units));
    }

    public int Units => _done.Length;
    public int DoneCount { get; private set; }
    public bool AllDone => DoneCount == _done.Length;
    public int PendingCount => _pending.Count;
    public bool IsDone(int unit) => _done[unit];

    public int InFlightWith(string worker) => _inFlight.TryGetValue(worker, out var units) ? units.Count : 0;

    /// <summary>The units <paramref name="worker"/> holds, lowest first.</summary>
    public IReadOnlyList<int> UnitsWith(string worker) =>
        _inFlight.TryGetValue(worker, out var units) ? units.Keys.Order().ToList() : [];

    /// <summary>
    /// Takes up to <paramref name="max"/> pending units for <paramref name="worker"/>: those it is
    /// <paramref name="prefer"/>red for first (it already has their data), then the lowest indices.
    /// </summary>
    public IReadOnlyList<int> Assign(string worker, int max, DateTime now, Func<int, bool>? prefer = null)
    {
        max = Math.Max(0, max);
        var taken = prefer is null
            ? _pending.Take(max).ToList()
            : _pending.Where(prefer).Concat(_pending.Where(u => !prefer(u))).Take(max).Order().ToList();
        foreach (var unit in taken)
        {
            _pending.Remove(unit);
            Track(worker, unit, now);
        }
        return taken;
    }

    /// <summary>Sends a unit that is in flight elsewhere to <paramref name="worker"/> as well.</summary>
    public void Duplicate(int unit, string worker, DateTime now)
    {
        if (_done[unit]) throw new InvalidOperationException($"unit {unit} is already done");
        Track(worker, unit, now);
    }

    /// <summary>When <paramref name="worker"/> was sent <paramref name="unit"/>, if it holds it.</summary>
    public DateTime? SentAt(int unit, string worker) =>
        _inFlight.TryGetValue(worker, out var units) && units.TryGetValue(unit, out var sent) ? sent : null;

    /// <summary>Records a result. True only for the first result of the unit; a copy arriving later is false.</summary>
    public bool Complete(int unit, string worker)
    {
        if (unit < 0 || unit >= _done.Length) return false;
        if (_inFlight.TryGetValue(worker, out var units)) units.Remove(unit);
        if (_done[unit]) return false;
        _done[unit] = true;
        DoneCount++;
        _pending.Remove(unit);
        foreach (var other in _inFlight.Values) other.Remove(unit);
        return true;
    }

    /// <summary>Takes back a completed unit whose result was rejected (non-finite), so it is computed again.</summary>
    public void Reopen(int unit)
    {
        if (!_done[unit]) return;
        _done[unit] = false;
        DoneCount--;
        _pending.Add(unit);
    }

    /// <summary>A worker is gone: its units that nobody else is computing go back to pending. Returns them.</summary>
    public IReadOnlyList<int> Release(string worker)
    {
        if (!_inFlight.Remove(worker, out var units)) return [];
        var released = new List<int>();
        foreach (var unit in units.Keys.Order())
        {
            if (_done[unit] || _inFlight.Values.Any(u => u.ContainsKey(unit))) continue;
            _pending.Add(unit);
            released.Add(unit);
        }
        return released;
    }

    /// <summary>Units in flight longer than <paramref name="deadline"/> that only one worker is computing.</summary>
    public IReadOnlyList<(int Unit, string Worker, TimeSpan Age)> Overdue(DateTime now, TimeSpan deadline)
    {
        var copies = new Dictionary<int, int>();
        foreach (var units in _inFlight.Values)
            foreach (var unit in units.Keys)
                copies[unit] = copies.GetValueOrDefault(unit) + 1;
        var result = new List<(int, string, TimeSpan)>();
        foreach (var (worker, units) in _inFlight)
            foreach (var (unit, sent) in units)
                if (copies[unit] == 1 && now - sent > deadline)
                    result.Add((unit, worker, now - sent));
        return result.OrderBy(r => r.Item1).ToList();
    }

    private void Track(string worker, int unit, DateTime now)
    {
        if (!_inFlight.TryGetValue(worker, out var units))
            _inFlight[worker] = units = new Dictionary<int, DateTime>();
        units[unit] = now;
    }
}
