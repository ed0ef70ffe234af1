using System.Net;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using DataParallel.Coordinator.Transport;
using DataParallel.Shared.Model;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Security;
using DataParallel.Shared.Serialization;
using DataParallel.Shared.Training;
using DataParallel.Tests.Support;
using DataParallel.Shared.Actors;

namespace DataParallel.Tests.Actors;

/// <summary>The worker's protocol, with a TestProbe as its coordinator.</summary>
public sealed class WorkerActorSpec : TestKit
{
    private readonly TestProbe _coordinator;
    private readonly TaskCompletionSource<(WorkerExit, string)> _exit = new();
    private readonly IActorRef _worker;
    private static readonly JobSpec Job = new("spec", 1, 0.1, 7, 0.1);

    public WorkerActorSpec() : base(ClusterTestConfig.Node(DataParallel.Shared.Cluster.ClusterConfig.WorkerRole))
    {
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        _coordinator = CreateTestProbe("coordinator");
        var options = new WorkerOptions("w-spec", _coordinator.Ref.Path.ToStringWithoutAddress(), 1, "secret", "127.0.0.1");
        _worker = Sys.ActorOf(WorkerActor.Props(options, _exit), "worker");
    }

    private void Join()
    {
        var request = _coordinator.ExpectMsg<JoinRequest>(TimeSpan.FromSeconds(15));
        _coordinator.Reply(new JoinChallenge(request.WorkerId, [1, 2, 3]));
        _coordinator.ExpectMsg<JoinProof>();
        _coordinator.Reply(new JoinAccepted(request.WorkerId, Job, JoinToken.ProveCoordinator("secret", request.Nonce!, request.WorkerId)));
    }

    [Fact]
    public void Worker_should_join_with_its_model_fingerprint_and_prove_the_token()
    {
        var request = _coordinator.ExpectMsg<JoinRequest>(TimeSpan.FromSeconds(15));
        Assert.Equal(("w-spec", ProtocolInfo.Version, SeedNetFingerprint.Value, 1),
            (request.WorkerId, request.ProtocolVersion, request.ModelFingerprint, request.Threads));
        var nonce = JoinToken.NewNonce();
        _coordinator.Reply(new JoinChallenge("w-spec", nonce));
        var proof = _coordinator.ExpectMsg<JoinProof>();
        Assert.True(JoinToken.Verify("secret", nonce, "w-spec", proof.Proof));
        Assert.False(JoinToken.Verify("other", nonce, "w-spec", proof.Proof));
    }

    [Fact]
    public void Worker_should_reply_with_gradients_equal_to_a_local_computation()
    {
        Join();
        using var reference = SeedNet.Seeded(5, () => new ModelReplica(Job.Dropout));
        var parameters = reference.ReadParameters();
        var buffers = reference.ReadBuffers();
        var (images, labels) = Repository.Train.Gather(Enumerable.Range(0, 64).ToArray());
        var batches = new[]
        {
            new MicroBatch(0, images[..(32 * 784)], labels[..32], 11, 12),
            new MicroBatch(1, images[(32 * 784)..], labels[32..], 13, 14),
        };
        // Micro-batch 1 arrives ahead of its step, as the coordinator prefetches; micro-batch 0 with the step.
        _worker.Tell(new PrefetchBatches(1, 0, [batches[1]]), _coordinator.Ref);
        _worker.Tell(new ComputeGradients(1, 0, 0, parameters, buffers, [0, 1], [batches[0]]), _coordinator.Ref);

        var augmentation = new Augmentation(Job.AugmentDegrees, Job.AugmentTranslate);
        reference.Load(parameters, buffers);
        foreach (var batch in batches)
        {
            var reply = _coordinator.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(15));
            var expected = reference.ComputeGradients(buffers, batch.Images, batch.Labels, batch.AugmentSeed, batch.DropoutSeed, augmentation);
            Assert.Equal((new UnitId(1, 0, UnitKind.MicroBatch, batch.Index), 32), (reply.Unit, reply.Result.Count));
            Assert.Equal(expected.Gradients, reply.Result.Gradients);
            Assert.Equal(expected.Buffers, reply.Result.Buffers);
        }
    }

    [Fact]
    public void Worker_should_compute_a_micro_batch_sent_with_its_step_over_the_one_it_prepared_ahead()
    {
        Join();
        using var reference = SeedNet.Seeded(5, () => new ModelReplica(Job.Dropout));
        var (parameters, buffers) = (reference.ReadParameters(), reference.ReadBuffers());
        var (images, labels) = Repository.Train.Gather(Enumerable.Range(0, 32).ToArray());
        // Prepared ahead from the prefetched copy (seeds 13, 14); the step then brings micro-batch 0 itself, seeds 15, 16.
        _worker.Tell(new PrefetchBatches(1, 2, [new MicroBatch(0, images, labels, 13, 14)]), _coordinator.Ref);
        _worker.Tell(new ComputeGradients(1, 2, 0, parameters, buffers, [0], [new MicroBatch(0, images, labels, 15, 16)]), _coordinator.Ref);
        var reply = _coordinator.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(15));
        var augmentation = new Augmentation(Job.AugmentDegrees, Job.AugmentTranslate);
        reference.Load(parameters, buffers);
        Assert.Equal(reference.ComputeGradients(buffers, images, labels, 15, 16, augmentation).Gradients, reply.Result.Gradients);
        Assert.NotEqual(reference.ComputeGradients(buffers, images, labels, 13, 14, augmentation).Gradients, reply.Result.Gradients);
    }

    [Fact]
    public void Worker_should_take_work_from_its_data_channel_and_answer_through_it_then_through_akka_once_it_closes()
    {
        var accepting = CreateTestProbe("accepting");
        var channelEnd = CreateTestProbe("channel-end");
        using var port = DataPort.Start(IPAddress.Loopback, 0, null, new ProtocolSerializer((ExtendedActorSystem)Sys), _ => { });
        port.DeliverTo(channelEnd.Ref);
        var options = new WorkerOptions("w-data", accepting.Ref.Path.ToStringWithoutAddress(), 1, null, "127.0.0.1")
        {
            Data = new DataTarget("127.0.0.1", null),
        };
        var worker = Sys.ActorOf(WorkerActor.Props(options, new TaskCompletionSource<(WorkerExit, string)>()), "worker-data");
        var request = accepting.ExpectMsg<JoinRequest>(TimeSpan.FromSeconds(15));
        accepting.Reply(new JoinChallenge(request.WorkerId, [1]));
        accepting.ExpectMsg<JoinProof>();
        accepting.Reply(new JoinAccepted(request.WorkerId, Job, null, port.Port, port.Ticket(worker)));
        AwaitCondition(() => port.Open == 1, TimeSpan.FromSeconds(15));

        using var reference = SeedNet.Seeded(5, () => new ModelReplica(Job.Dropout));
        var (parameters, buffers) = (reference.ReadParameters(), reference.ReadBuffers());
        var (images, labels) = Repository.Train.Gather(Enumerable.Range(0, 16).ToArray());
        var batch = new MicroBatch(0, images, labels, 3, 4);
        Assert.True(port.TrySend(worker, new ComputeGradients(1, 0, 0, parameters, buffers, [0], [batch])));
        var reply = channelEnd.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(15));
        Assert.Equal(worker, channelEnd.LastSender);
        reference.Load(parameters, buffers);
        var expected = reference.ComputeGradients(buffers, images, labels, 3, 4, new Augmentation(Job.AugmentDegrees, Job.AugmentTranslate));
        Assert.Equal(expected.Gradients, reply.Result.Gradients);
        accepting.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // nothing came through Akka.Remote

        // The coordinator closes the channel (the worker left the run, or the port shut): Akka.Remote carries the work again.
        port.Forget(worker);
        AwaitAssert(() =>
        {
            worker.Tell(new ComputeGradients(1, 1, 0, null, null, [0], [batch]), accepting.Ref);
            Assert.Equal(new UnitId(1, 0, UnitKind.MicroBatch, 0), accepting.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(2)).Unit);
        }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
        channelEnd.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Worker_should_ask_for_parameters_it_was_never_sent()
    {
        Join();
        _worker.Tell(new ComputeGradients(2, 7, 42, null, null, [0], [new MicroBatch(0, new byte[784], [3], 1, 2)]), _coordinator.Ref);
        var missing = _coordinator.ExpectMsg<InputsMissing>(TimeSpan.FromSeconds(10));
        Assert.Equal(new UnitId(2, 42, UnitKind.MicroBatch, 0), missing.Unit);
    }

    [Fact]
    public void Worker_should_ask_again_for_a_micro_batch_it_was_not_sent()
    {
        Join();
        using var reference = new ModelReplica(Job.Dropout);
        _worker.Tell(new ComputeGradients(2, 7, 42, reference.ReadParameters(), reference.ReadBuffers(), [0, 1],
            [new MicroBatch(0, new byte[784], [3], 1, 2)]), _coordinator.Ref);
        var missing = _coordinator.ExpectMsg<InputsMissing>(TimeSpan.FromSeconds(10));
        Assert.Equal((2, 42L), (missing.Unit.Epoch, missing.Unit.Version));
        _coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // nothing computed from a partial step
    }

    [Fact]
    public void Worker_should_report_a_failed_computation_and_keep_working()
    {
        Join();
        using var reference = SeedNet.Seeded(5, () => new ModelReplica(Job.Dropout));
        var (p, b) = (reference.ReadParameters(), reference.ReadBuffers());
        // 100 bytes are not an image: the replica throws.
        _worker.Tell(new ComputeGradients(1, 3, 7, p, b, [2], [new MicroBatch(2, new byte[100], [1], 1, 2)]), _coordinator.Ref);
        var failed = _coordinator.ExpectMsg<UnitFailed>(TimeSpan.FromSeconds(10));
        Assert.Equal(new UnitId(1, 7, UnitKind.MicroBatch, 2), failed.Unit);
        Assert.Contains("ArgumentException", failed.Error);

        // The same worker computes the next unit correctly, from parameters it must be sent again.
        var (images, labels) = Repository.Train.Gather(Enumerable.Range(0, 8).ToArray());
        _worker.Tell(new ComputeGradients(1, 3, 7, p, b, [2], [new MicroBatch(2, images, labels, 1, 2)]), _coordinator.Ref);
        var reply = _coordinator.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(10));
        reference.Load(p, b);
        var augmentation = new Augmentation(Job.AugmentDegrees, Job.AugmentTranslate);
        Assert.Equal(reference.ComputeGradients(b, images, labels, 1, 2, augmentation).Gradients, reply.Result.Gradients);
    }

    [Fact]
    public void Worker_should_evaluate_a_chunk()
    {
        Join();
        using var reference = SeedNet.Seeded(5, () => new ModelReplica(Job.Dropout));
        var test = Repository.Test;
        _worker.Tell(new EvaluateChunk(new UnitId(1, 10, UnitKind.EvalChunk, 3), reference.ReadParameters(), reference.ReadBuffers(),
            test.Images[..(50 * 784)], test.Labels[..50]), _coordinator.Ref);
        var reply = _coordinator.ExpectMsg<ChunkEvaluated>(TimeSpan.FromSeconds(10));
        var expected = reference.Evaluate(test.Images[..(50 * 784)], test.Labels[..50]);
        Assert.Equal((3, expected), (reply.Unit.Index, reply.Result));
    }

    [Fact]
    public async Task Worker_should_stop_when_refused()
    {
        var request = _coordinator.ExpectMsg<JoinRequest>(TimeSpan.FromSeconds(15));
        Watch(_worker);
        _coordinator.Reply(new JoinRefused(request.WorkerId, "wrong or missing join token"));
        ExpectTerminated(_worker);
        Assert.Equal((WorkerExit.Refused, "wrong or missing join token"), await _exit.Task);
    }

    [Fact]
    public void Worker_should_take_work_and_orders_only_from_its_coordinator()
    {
        Join();
        var stranger = CreateTestProbe("stranger");
        using var reference = new ModelReplica(Job.Dropout);
        var (images, labels) = Repository.Train.Gather(Enumerable.Range(0, 8).ToArray());
        _worker.Tell(new ComputeGradients(1, 0, 0, reference.ReadParameters(), reference.ReadBuffers(), [0],
            [new MicroBatch(0, images, labels, 1, 2)]), stranger.Ref);
        _worker.Tell(new RunFinished("spec", "forged"), stranger.Ref);
        stranger.ExpectNoMsg(TimeSpan.FromMilliseconds(500));
        _coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.False(_exit.Task.IsCompleted);

        // Its own coordinator still gets answers.
        _worker.Tell(new ComputeGradients(1, 0, 0, reference.ReadParameters(), reference.ReadBuffers(), [0],
            [new MicroBatch(0, images, labels, 1, 2)]), _coordinator.Ref);
        Assert.Equal(new UnitId(1, 0, UnitKind.MicroBatch, 0), _coordinator.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(10)).Unit);
    }

    [Fact]
    public void Worker_should_take_an_acceptance_only_from_a_holder_of_the_token()
    {
        var request = _coordinator.ExpectMsg<JoinRequest>(TimeSpan.FromSeconds(15));
        _coordinator.Reply(new JoinChallenge(request.WorkerId, [1, 2, 3]));
        _coordinator.ExpectMsg<JoinProof>();
        // Accepted by somebody who does not know the token: ignored, the worker keeps asking.
        _coordinator.Reply(new JoinAccepted(request.WorkerId, Job, JoinToken.ProveCoordinator("guess", request.Nonce!, request.WorkerId)));
        _coordinator.Reply(new JoinAccepted(request.WorkerId, Job));
        var again = _coordinator.ExpectMsg<JoinRequest>(TimeSpan.FromSeconds(15));
        Assert.Equal(request.Nonce, again.Nonce);
        _coordinator.Reply(new JoinAccepted(request.WorkerId, Job, JoinToken.ProveCoordinator("secret", request.Nonce!, request.WorkerId)));
        using var reference = new ModelReplica(Job.Dropout);
        var (images, labels) = Repository.Train.Gather(Enumerable.Range(0, 8).ToArray());
        _worker.Tell(new ComputeGradients(1, 0, 0, reference.ReadParameters(), reference.ReadBuffers(), [0],
            [new MicroBatch(0, images, labels, 1, 2)]), _coordinator.Ref);
        _coordinator.FishForMessage(m => m is GradientsComputed, TimeSpan.FromSeconds(15));
    }
}
