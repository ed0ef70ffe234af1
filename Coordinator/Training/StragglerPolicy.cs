namespace DataParallel.Coordinator.Training;

/// <summary>When a unit still in flight is also given to an idle worker.</summary>
public static class StragglerPolicy
{
    /// <summary>
    /// A worker is sent its share of a step at once and computes it in sequence, so its last unit is due after
    /// (units per worker) x (mean unit time); a unit is late at <paramref name="factor"/> times that, and
    /// never before <paramref name="minimum"/>, so a noisy machine does not duplicate everything.
    /// </summary>
    public static TimeSpan Deadline(TimeSpan minimum, double factor, double meanUnitMilliseconds, int units, int workers)
    {
        var perWorker = Math.Max(1, units / Math.Max(1, workers));
        return TimeSpan.FromMilliseconds(Math.Max(minimum.TotalMilliseconds, factor * meanUnitMilliseconds * perWorker));
    }
}
