using Akka.Actor;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Reporting;
using DataParallel.Coordinator.Training;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Settings;
using DataParallel.Shared.Training;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

/// <summary>The scheduling rules as plain facts: no actor system, no clock but the `now` each call is given.</summary>
public sealed class StepSchedulerTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private readonly TrainingRun _run;
    private readonly StepScheduler _scheduler;
    private readonly RegisteredWorker _w1 = new("w1", ActorRefs.Nobody, 1, "in-process");
    private readonly RegisteredWorker _w2 = new("w2", ActorRefs.Nobody, 1, "in-process");

    public StepSchedulerTests()
    {
        // 256 images: 2 steps of 2 micro-batches of 64; 100 test images: one evaluation chunk.
        _run = TrainingRun.Create(new TrainSettings { Epochs = 1, EvalChunk = 100 }, Repository.Train.Take(256), Repository.Test.Take(100), 1);
        _scheduler = new StepScheduler(_run, new LaunchSettings
        {
            Workers = 2, WorkerTimeout = TimeSpan.FromSeconds(10), StragglerMinimum = TimeSpan.FromSeconds(1),
        });
        // Added in reverse order: who gets what must not depend on it.
        _scheduler.Add(_w2, T0);
        _scheduler.Add(_w1, T0);
    }

    private static List<(string To, T Message)> Sent<T>(Effects effects) =>
        effects.Sends.Where(s => s.Message is T).Select(s => (s.To.Id, (T)s.Message)).ToList();

    private GradientsComputed Result(ComputeGradients work, int index, float value = 0.01f) =>
        new(work.Unit(index), new GradientResult(Enumerable.Repeat(value, _run.Layout.ParameterLength).ToArray(), _run.Buffers, 2.3f, 7, 64), 5);

    private (ComputeGradients A, ComputeGradients B) Start()
    {
        var sent = Sent<ComputeGradients>(_scheduler.StartTraining(T0));
        return (sent.Single(s => s.To == "w1").Message, sent.Single(s => s.To == "w2").Message);
    }

    [Fact]
    public void Each_worker_gets_its_share_by_id_then_the_data_of_its_next_micro_batch()
    {
        var effects = _scheduler.StartTraining(T0);
        Assert.Equal(["w1", "w2", "w1", "w2"], effects.Sends.Select(s => s.To.Id));
        var work = Sent<ComputeGradients>(effects);
        Assert.Equal([0], work[0].Message.Indices);
        Assert.Equal([1], work[1].Message.Indices);
        Assert.Equal(_run.Parameters, work[0].Message.Parameters);
        var prefetch = Sent<PrefetchBatches>(effects);
        Assert.Equal((1, 1, 0), (prefetch[0].Message.Epoch, prefetch[0].Message.Step, prefetch[0].Message.Batches.Single().Index));
    }

    [Fact]
    public void A_step_is_applied_when_every_micro_batch_is_in_and_the_next_one_carries_new_parameters()
    {
        var (a, b) = Start();
        var first = _scheduler.Reply(_w2, Result(b, 1), T0.AddMilliseconds(50));
        Assert.Null(first.Trained);
        var last = _scheduler.Reply(_w1, Result(a, 0), T0.AddMilliseconds(60));
        Assert.Equal(64 * 2, last.Trained!.Value.Examples);
        Assert.Equal(1, _run.Version);
        var next = Sent<ComputeGradients>(_scheduler.StartTraining(T0.AddMilliseconds(61)));
        Assert.All(next, n => Assert.Same(_run.Parameters, n.Message.Parameters));
        Assert.All(next, n => Assert.Empty(n.Message.Batches)); // the data came ahead
    }

    [Fact]
    public void A_lost_workers_units_go_to_the_others_without_parameters_they_already_hold()
    {
        var (_, _) = Start();
        var effects = _scheduler.Remove("w2", "stopped", T0.AddSeconds(1));
        var left = Assert.IsType<WorkerLeft>(Assert.Single(effects.Reports));
        Assert.Equal(("w2", 1, 1), (left.WorkerId, left.Reassigned, left.Alive));
        var (to, work) = Assert.Single(Sent<ComputeGradients>(effects));
        Assert.Equal(("w1", 1), (to, work.Indices.Single()));
        Assert.Null(work.Parameters);
        Assert.Equal([1], work.Batches.Select(x => x.Index)); // never sent to w1 before
    }

    [Fact]
    public void A_straggler_is_duplicated_to_an_idle_worker_and_the_first_result_wins()
    {
        var (a, b) = Start();
        _scheduler.Reply(_w1, Result(a, 0), T0.AddMilliseconds(100));
        Assert.Empty(_scheduler.Tick(T0.AddMilliseconds(500)).Sends); // not late yet
        var tick = _scheduler.Tick(T0.AddSeconds(3));
        var (to, copy) = Assert.Single(Sent<ComputeGradients>(tick));
        Assert.Equal(("w1", 1), (to, copy.Indices.Single()));
        Assert.Contains("straggler: worker w2 has held unit 1", Assert.IsType<Notice>(Assert.Single(tick.Reports)).Text);

        Assert.NotNull(_scheduler.Reply(_w1, Result(copy, 1), T0.AddSeconds(3.1)).Trained);
        var applied = _run.Parameters;
        // The straggler's own result comes after the step was applied: it changes nothing.
        var late = _scheduler.Reply(_w2, Result(b, 1, value: 99f), T0.AddSeconds(3.2));
        Assert.Null(late.Trained);
        Assert.Equal(1, _scheduler.StaleReplies);
        Assert.Same(applied, _run.Parameters);
    }

    [Fact]
    public void Replies_for_another_phase_for_a_unit_not_held_or_from_no_worker_are_stale()
    {
        var (a, b) = Start();
        var otherVersion = new GradientsComputed(a.Unit(0) with { Version = 5 }, Result(a, 0).Result, 5);
        Assert.Null(_scheduler.Reply(_w1, otherVersion, T0).Trained);
        Assert.Null(_scheduler.Reply(_w1, Result(b, 1), T0).Trained);   // unit 1 is w2's
        Assert.Null(_scheduler.Reply(null, Result(a, 0), T0).Trained);  // not a registered worker
        Assert.Equal(3, _scheduler.StaleReplies);
        Assert.Equal(0, _run.Version);
    }

    [Fact]
    public void A_failed_unit_is_handed_out_again_until_its_third_failure_stops_the_run()
    {
        var (a, _) = Start();
        var again = _scheduler.Reply(_w1, new UnitFailed(a.Unit(0), "ExternalException: boom"), T0);
        var (to, work) = Assert.Single(Sent<ComputeGradients>(again));
        Assert.Equal(("w1", 0), (to, work.Indices.Single()));
        Assert.NotNull(work.Parameters); // it rebuilt its model: everything is sent again
        _scheduler.Reply(_w1, new UnitFailed(a.Unit(0), "ExternalException: boom"), T0);
        var third = _scheduler.Reply(_w1, new UnitFailed(a.Unit(0), "ExternalException: boom"), T0);
        Assert.Equal(ExitCodes.Failed, third.Failure!.ExitCode);
        Assert.Contains("unit 0 of epoch 1 failed 3 times (last on worker w1: ExternalException: boom)", third.Failure.Reason);
    }

    [Fact]
    public void A_non_finite_result_is_recomputed_by_another_worker_then_stops_the_run()
    {
        var (a, _) = Start();
        var retry = _scheduler.Reply(_w1, Result(a, 0, value: float.NaN), T0);
        var (to, work) = Assert.Single(Sent<ComputeGradients>(retry));
        Assert.Equal(("w2", 0), (to, work.Indices.Single()));
        var failed = _scheduler.Reply(_w2, Result(work, 0, value: float.PositiveInfinity), T0);
        Assert.Equal(ExitCodes.NonFinite, failed.Failure!.ExitCode);
        Assert.Contains("epoch 1 step 0 micro-batch 0: gradients are not finite, also when recomputed by another worker", failed.Failure.Reason);
        Assert.Equal(0, _run.Version);
    }

    [Fact]
    public void A_worker_silent_past_the_timeout_is_given_up_and_downed()
    {
        var (a, _) = Start();
        _scheduler.Reply(_w1, Result(a, 0), T0.AddSeconds(1));
        var tick = _scheduler.Tick(T0.AddSeconds(11));
        Assert.Equal("w2", Assert.Single(tick.Downed).Id);
        Assert.Contains(tick.Reports, r => r is WorkerLeft { WorkerId: "w2" } l && l.Reason.StartsWith("no reply for"));
        Assert.Equal(["w1"], _scheduler.Workers.Select(w => w.Id));
    }

    [Fact]
    public void A_result_of_the_wrong_shape_drops_its_worker_and_the_unit_goes_to_another()
    {
        var (a, _) = Start();
        var shortVector = new GradientsComputed(a.Unit(0), new GradientResult(new float[10], _run.Buffers, 2.3f, 7, 64), 5);
        var effects = _scheduler.Reply(_w1, shortVector, T0);
        Assert.Contains("worker w1 sent a malformed result", Assert.IsType<Notice>(effects.Reports[0]).Text);
        Assert.Equal("w1", Assert.Single(effects.Downed).Id);
        var (to, work) = Assert.Single(Sent<ComputeGradients>(effects));
        Assert.Equal(("w2", 0), (to, work.Indices.Single()));

        var lyingCount = new GradientsComputed(work.Unit(0), new GradientResult(Result(work, 0).Result.Gradients, _run.Buffers, 2.3f, 70, 64), 5);
        Assert.Contains("70 correct of 64", Assert.IsType<Notice>(_scheduler.Reply(_w2, lyingCount, T0).Reports[0]).Text);
        Assert.Empty(_scheduler.Workers);
        Assert.Equal(0, _run.Version);
    }
}
