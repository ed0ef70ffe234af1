using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using DataParallel.Coordinator.Actors;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Reporting;
using DataParallel.Coordinator.Training;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Security;
using DataParallel.Shared.Settings;
using DataParallel.Shared.Training;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Actors;

/// <summary>The coordinator's protocol, with TestProbes standing in for workers.</summary>
public sealed class CoordinatorActorSpec : TestKit
{
    private readonly TrainingRun _run;
    private readonly TestProbe _reporter;
    private readonly TaskCompletionSource<RunOutcome> _outcome = new();
    private readonly IActorRef _coordinator;

    public CoordinatorActorSpec() : base(ClusterTestConfig.Node())
    {
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up, TimeSpan.FromSeconds(10));
        // 256 images: 2 steps of 2 micro-batches of 64; 100 test images: one evaluation chunk.
        _run = TrainingRun.Create(new TrainSettings { Epochs = 1, EvalChunk = 100 }, Repository.Train.Take(256), Repository.Test.Take(100), 1);
        _reporter = CreateTestProbe("reporter");
        var launch = new LaunchSettings
        {
            Workers = 2, Token = "secret", WorkerTimeout = TimeSpan.FromMinutes(5), StragglerMinimum = TimeSpan.FromMinutes(5),
        };
        _coordinator = Sys.ActorOf(CoordinatorActor.Props(launch, "spec", _run, _reporter.Ref, _outcome), "coordinator");
    }

    private TestProbe Register(string id, string token = "secret")
    {
        var worker = CreateTestProbe(id);
        _coordinator.Tell(new JoinRequest(id, ProtocolInfo.Version, _run.Layout.Fingerprint, 1, "127.0.0.1"), worker.Ref);
        var challenge = worker.ExpectMsg<JoinChallenge>();
        _coordinator.Tell(new JoinProof(id, JoinToken.Prove(token, challenge.Nonce, id)), worker.Ref);
        return worker;
    }

    /// <summary>Two workers joined, each holding its micro-batch of step 0 and the prefetched data of step 1.</summary>
    private (TestProbe W1, TestProbe W2, ComputeGradients A, ComputeGradients B) StartTwo()
    {
        var w1 = Register("w1");
        w1.ExpectMsg<JoinAccepted>();
        var w2 = Register("w2");
        w2.ExpectMsg<JoinAccepted>();
        var a = w1.ExpectMsg<ComputeGradients>();
        var b = w2.ExpectMsg<ComputeGradients>();
        w1.ExpectMsg<PrefetchBatches>();
        w2.ExpectMsg<PrefetchBatches>();
        return (w1, w2, a, b);
    }

    private GradientsComputed Gradients(ComputeGradients work, int index, float value = 0.01f) =>
        new(work.Unit(index), new GradientResult(Enumerable.Repeat(value, _run.Layout.ParameterLength).ToArray(), _run.Buffers, 2.3f, 7, 64), 5);

    [Fact]
    public void Workers_are_accepted_after_proving_the_token_and_get_step_zero()
    {
        var w1 = Register("w1");
        var accepted = w1.ExpectMsg<JoinAccepted>();
        Assert.Equal(_run.Settings.Seed, accepted.Job.Seed);
        w1.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // one of two workers: training has not started

        var w2 = Register("w2");
        w2.ExpectMsg<JoinAccepted>();
        var work1 = w1.ExpectMsg<ComputeGradients>();
        var work2 = w2.ExpectMsg<ComputeGradients>();
        Assert.Equal((1, 0, 0L), (work1.Epoch, work1.Step, work1.Version));
        Assert.Equal(_run.Parameters, work1.Parameters);
        Assert.Equal(new[] { 0 }, work1.Indices);
        Assert.Equal(new[] { 0 }, work1.Batches.Select(b => b.Index));
        Assert.Equal(new[] { 1 }, work2.Indices);

        // While they compute, each gets the data of its micro-batch of the next step.
        var prefetch = w1.ExpectMsg<PrefetchBatches>();
        Assert.Equal((1, 1), (prefetch.Epoch, prefetch.Step));
        Assert.Equal(new[] { 0 }, prefetch.Batches.Select(b => b.Index));
        Assert.Equal(_run.BuildMicroBatch(1, 0).Images, prefetch.Batches[0].Images);
        Assert.Equal(new[] { 1 }, w2.ExpectMsg<PrefetchBatches>().Batches.Select(b => b.Index));
    }

    [Fact]
    public void A_wrong_token_is_refused_and_the_worker_gets_no_work()
    {
        var intruder = Register("intruder", token: "guess");
        var refused = intruder.ExpectMsg<JoinRefused>();
        Assert.Equal("wrong or missing join token", refused.Reason);
        _reporter.FishForMessage(m => m is WorkerRefusedNotice);
        intruder.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_different_model_or_protocol_is_refused_at_once()
    {
        var other = CreateTestProbe();
        _coordinator.Tell(new JoinRequest("old", ProtocolInfo.Version, "0000000000000000", 1, "h"), other.Ref);
        Assert.Contains("model fingerprint 0000000000000000 does not match", other.ExpectMsg<JoinRefused>().Reason);
        _coordinator.Tell(new JoinRequest("older", ProtocolInfo.Version + 1, _run.Layout.Fingerprint, 1, "h"), other.Ref);
        Assert.Contains($"protocol version {ProtocolInfo.Version + 1} does not match", other.ExpectMsg<JoinRefused>().Reason);
    }

    [Fact]
    public void Results_are_aggregated_then_new_parameters_are_broadcast_with_the_next_step()
    {
        var (w1, w2, a, b) = StartTwo();

        _coordinator.Tell(Gradients(b, 1), w2.Ref);
        w2.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // the step is not complete until micro-batch 0 is in
        _coordinator.Tell(Gradients(a, 0), w1.Ref);

        var next1 = w1.ExpectMsg<ComputeGradients>();
        var next2 = w2.ExpectMsg<ComputeGradients>();
        Assert.Equal((0 + 1, 1L), (next1.Step, next1.Version));
        Assert.NotNull(next1.Parameters);
        Assert.Equal(next1.Parameters, next2.Parameters);
        Assert.NotEqual(a.Parameters, next1.Parameters);
        Assert.Equal(_run.Parameters, next1.Parameters);
        Assert.Equal(new[] { 0 }, next1.Indices);
        Assert.Empty(next1.Batches); // its data came ahead
    }

    [Fact]
    public async Task Late_and_duplicate_replies_are_dropped_and_counted()
    {
        var (w1, w2, a, b) = StartTwo();
        _coordinator.Tell(Gradients(a, 0), w1.Ref);
        _coordinator.Tell(Gradients(a, 0, value: 99f), w1.Ref); // duplicate: must not replace the first
        _coordinator.Tell(Gradients(b, 1), w2.Ref);
        var step1 = w1.ExpectMsg<ComputeGradients>();
        w2.ExpectMsg<ComputeGradients>();
        var afterStep0 = _run.Parameters;

        _coordinator.Tell(Gradients(b, 1, value: 99f), w2.Ref);   // late: step 0 is over
        _coordinator.Tell(Gradients(step1, 0), w2.Ref);    // unknown worker
        _coordinator.Tell(Gradients(step1, 0), w1.Ref);
        _coordinator.Tell(Gradients(step1, 1), w2.Ref);
        // Step 1 completes with exactly the two valid replies: then evaluation of the epoch starts.
        var evaluate = w1.ExpectMsg<EvaluateChunk>();
        Assert.Equal(new UnitId(1, 2, UnitKind.EvalChunk, 0), evaluate.Unit);
        Assert.Equal(2, _run.Version);
        Assert.NotSame(afterStep0, _run.Parameters);
        _coordinator.Tell(new ChunkEvaluated(evaluate.Unit, new EvaluationResult(50.0, 90, 100), 3), w1.Ref);
        var completed = _reporter.FishForMessage<RunCompleted>(_ => true, TimeSpan.FromSeconds(10));
        Assert.Equal(1, completed.Result.DuplicateReplies);
        Assert.Equal(2, completed.Result.StaleReplies);
        Assert.Equal(0.9, completed.Result.TestAccuracy);
        w1.ExpectMsg<RunFinished>();
        Assert.Equal(0, (await _outcome.Task).ExitCode);
    }

    [Fact]
    public void A_worker_that_leaves_has_its_micro_batches_reassigned()
    {
        var (w1, w2, a, _) = StartTwo();
        _coordinator.Tell(Gradients(a, 0), w1.Ref);

        Sys.Stop(w2.Ref);
        var left = _reporter.FishForMessage<WorkerLeft>(_ => true, TimeSpan.FromSeconds(10));
        Assert.Equal(("w2", 1, 1), (left.WorkerId, left.Reassigned, left.Alive));
        var reassigned = w1.ExpectMsg<ComputeGradients>();
        Assert.Equal((0, 0L), (reassigned.Step, reassigned.Version));
        Assert.Null(reassigned.Parameters); // w1 already holds version 0
        Assert.Equal(new[] { 1 }, reassigned.Indices);
        Assert.Equal(new[] { 1 }, reassigned.Batches.Select(x => x.Index)); // its data was never sent to w1
    }

    [Fact]
    public void A_failed_unit_is_handed_out_again_and_a_unit_failing_three_times_fails_the_run()
    {
        var (w1, w2, a, _) = StartTwo();

        _coordinator.Tell(new UnitFailed(a.Unit(0), "ExternalException: boom"), w1.Ref);
        var again = w1.ExpectMsg<ComputeGradients>();
        Assert.Equal(new[] { 0 }, again.Indices);
        Assert.NotNull(again.Parameters); // the worker rebuilt its model: everything is sent again
        Assert.Equal(new[] { 0 }, again.Batches.Select(x => x.Index));
        Assert.Contains("worker w1 failed on unit 0 of epoch 1: ExternalException: boom", _reporter.FishForMessage<Notice>(n => n.Warning).Text);

        _coordinator.Tell(new UnitFailed(a.Unit(0), "ExternalException: boom"), w1.Ref);
        w1.ExpectMsg<ComputeGradients>();
        _coordinator.Tell(new UnitFailed(a.Unit(0), "ExternalException: boom"), w1.Ref);
        var failed = _reporter.FishForMessage<RunFailed>(_ => true, TimeSpan.FromSeconds(10));
        Assert.Equal(2, failed.ExitCode);
        Assert.Contains("unit 0 of epoch 1 failed 3 times (last on worker w1: ExternalException: boom)", failed.Error);
    }

    [Fact]
    public void A_non_finite_gradient_is_recomputed_once_then_fails_the_run()
    {
        var (w1, w2, a, _) = StartTwo();
        _coordinator.Tell(Gradients(a, 0, value: float.NaN), w1.Ref);
        var retry = w2.ExpectMsg<ComputeGradients>();
        Assert.Equal(new[] { 0 }, retry.Indices);
        _coordinator.Tell(Gradients(retry, 0, value: float.PositiveInfinity), w2.Ref);
        var failed = _reporter.FishForMessage<RunFailed>(_ => true, TimeSpan.FromSeconds(10));
        Assert.Equal(3, failed.ExitCode);
        Assert.Contains("gradients are not finite, also when recomputed by another worker", failed.Error);
        Assert.Equal(0, _run.Version);
    }

    [Fact]
    public void A_join_request_for_a_registered_id_evicts_nobody_until_it_is_proven()
    {
        var (w1, w2, a, b) = StartTwo();
        var impostor = CreateTestProbe("impostor");
        _coordinator.Tell(new JoinRequest("w1", ProtocolInfo.Version, _run.Layout.Fingerprint, 1, "h"), impostor.Ref);
        var challenge = impostor.ExpectMsg<JoinChallenge>();
        _coordinator.Tell(new JoinProof("w1", JoinToken.Prove("guess", challenge.Nonce, "w1")), impostor.Ref);
        impostor.ExpectMsg<JoinRefused>();

        // The real w1 is still registered, holds its unit, and its result completes the step.
        _coordinator.Tell(Gradients(a, 0), w1.Ref);
        _coordinator.Tell(Gradients(b, 1), w2.Ref);
        Assert.Equal(1L, w1.ExpectMsg<ComputeGradients>().Version);
        Assert.Equal(1, _run.Version);
    }
}

