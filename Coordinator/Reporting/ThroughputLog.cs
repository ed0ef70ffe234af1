namespace DataParallel.Coordinator.Reporting;

/// <summary>
/// Training images each worker finished per window of time since the run started: throughput.csv and Workers.png.
/// A worker has a sample for every window it was a member during, zero when it finished nothing, so a stall or a
/// crash shows as a drop and a leave as the end of its line. Only closed windows are reported while the run goes on
/// (an open one would read low); at its end, the last window is closed by the end itself and reported over the time
/// it lasted, so a run shorter than a window still has its throughput.
/// </summary>
public sealed class ThroughputLog(TimeSpan window)
{
    private readonly Dictionary<string, Worker> _workers = new(StringComparer.Ordinal);

    public TimeSpan Window { get; } =
        window > TimeSpan.Zero ? window : throw new ArgumentOutOfRangeException(nameof(window), window, "must be positive");

    public void Joined(string workerId, TimeSpan at) => WorkerNamed(workerId).Join(WindowOf(at));

    public void Left(string workerId, TimeSpan at)
    {
        if (_workers.TryGetValue(workerId, out var worker)) worker.Leave(WindowOf(at));
    }

    public void Completed(string workerId, TimeSpan at, int images)
    {
        var worker = WorkerNamed(workerId);
        var index = WindowOf(at);
        // A unit from a worker not (or no longer) known as a member: it evidently is one, whatever the order of events.
        worker.Join(index);
        worker.Images[index] = worker.Images.GetValueOrDefault(index) + images;
    }

    /// <summary>
    /// Every closed window before <paramref name="now"/>, by time and then worker; with <paramref name="final"/> (the
    /// run ended at <paramref name="now"/>) also the window the end falls in, over its part up to the end.
    /// </summary>
    public IReadOnlyList<ThroughputSample> Samples(TimeSpan now, bool final = false)
    {
        var open = WindowOf(now);
        var seconds = Window.TotalSeconds;
        var partial = (now - TimeSpan.FromTicks(open * Window.Ticks)).TotalSeconds;
        var samples = new List<ThroughputSample>();
        foreach (var (id, worker) in _workers)
            foreach (var index in worker.MemberWindows(before: open + 1))
                if (index < open)
                    samples.Add(new ThroughputSample((index + 1) * seconds, id, worker.Images.GetValueOrDefault(index) / seconds));
                else if (final && partial > 0)
                    samples.Add(new ThroughputSample(now.TotalSeconds, id, worker.Images.GetValueOrDefault(open) / partial));
        return samples.OrderBy(s => s.Seconds).ThenBy(s => s.Worker, StringComparer.Ordinal).ToList();
    }

    private Worker WorkerNamed(string workerId)
    {
        if (!_workers.TryGetValue(workerId, out var worker)) _workers[workerId] = worker = new Worker();
        return worker;
    }

    private long WindowOf(TimeSpan at) => Math.Max(0, at.Ticks) / Window.Ticks;

    private sealed class Worker
    {
        private readonly List<(long From, long? To)> _memberships = new();

        public Dictionary<long, int> Images { get; } = new();

        private bool IsMember => _memberships.Count > 0 && _memberships[^1].To is null;

        public void Join(long window)
        {
            if (!IsMember) _memberships.Add((window, null));
        }

        public void Leave(long window)
        {
            if (IsMember) _memberships[^1] = (_memberships[^1].From, window);
        }

        public IEnumerable<long> MemberWindows(long before)
        {
            // A worker that leaves and rejoins within one window has two memberships covering it: count it once.
            var windows = new SortedSet<long>();
            foreach (var (from, to) in _memberships)
                for (var i = from; i <= Math.Min(to ?? long.MaxValue, before - 1); i++)
                    windows.Add(i);
            return windows;
        }
    }
}
