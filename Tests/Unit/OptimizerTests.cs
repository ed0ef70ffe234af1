using DataParallel.Shared.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Tests.Unit;

/// <summary>Our float[] optimizers against torch.optim on the same parameters and gradients.</summary>
public sealed class OptimizerTests
{
    private const int Length = 257;
    private const int Steps = 6;

    private static float[][] Gradients()
    {
        var random = new DeterministicRandom(11);
        return Enumerable.Range(0, Steps).Select(_ => Enumerable.Range(0, Length).Select(_ => (float)random.NextDouble(-1, 1)).ToArray()).ToArray();
    }

    private static float[] Start()
    {
        var random = new DeterministicRandom(5);
        return Enumerable.Range(0, Length).Select(_ => (float)random.NextDouble(-0.5, 0.5)).ToArray();
    }

    /// <summary>Runs a torch optimizer, feeding each gradient through backward() of sum(p * g).</summary>
    private static float[] Reference(Func<TorchSharp.Modules.Parameter, optim.Optimizer> create)
    {
        using var scope = NewDisposeScope();
        var p = new TorchSharp.Modules.Parameter(tensor(Start()));
        var optimizer = create(p);
        foreach (var g in Gradients())
        {
            optimizer.zero_grad();
            (p * tensor(g)).sum().backward();
            optimizer.step();
        }
        return p.data<float>().ToArray();
    }

    private static float[] Ours(IOptimizer optimizer, double lr, double momentum)
    {
        var p = Start();
        foreach (var g in Gradients()) optimizer.Step(p, g, lr, momentum);
        Assert.Equal(Steps, optimizer.StepCount);
        return p;
    }

    private static void Close(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6f + 1e-5f * Math.Abs(expected[i]),
                $"element {i}: torch {expected[i]:R}, ours {actual[i]:R}");
    }

    [Theory]
    [InlineData(false, 0.0)]
    [InlineData(true, 0.0)]
    [InlineData(true, 5e-4)]
    public void Sgd_matches_torch_optim_sgd(bool nesterov, double weightDecay)
    {
        var expected = Reference(p => optim.SGD([p], 0.05, momentum: 0.9, weight_decay: weightDecay, nesterov: nesterov));
        Close(expected, Ours(new Sgd(Length, nesterov, weightDecay), 0.05, 0.9));
    }

    [Fact]
    public void Sgd_without_momentum_is_plain_gradient_descent()
    {
        var expected = Reference(p => optim.SGD([p], 0.1));
        Close(expected, Ours(new Sgd(Length, nesterov: false), 0.1, 0));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1e-4)]
    public void Adam_matches_torch_optim_adam(double weightDecay)
    {
        var expected = Reference(p => optim.Adam([p], 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: weightDecay));
        Close(expected, Ours(new Adam(Length, weightDecay: weightDecay), 0.01, 0.9));
    }

    [Fact]
    public void Restored_state_continues_exactly()
    {
        var g = Gradients();
        var straight = new Sgd(Length, nesterov: true);
        var p1 = Start();
        foreach (var grad in g) straight.Step(p1, grad, 0.05, 0.9);

        var first = new Sgd(Length, nesterov: true);
        var p2 = Start();
        for (var i = 0; i < 3; i++) first.Step(p2, g[i], 0.05, 0.9);
        var second = new Sgd(Length, nesterov: true);
        second.Restore(first.StepCount, first.State);
        for (var i = 3; i < g.Length; i++) second.Step(p2, g[i], 0.05, 0.9);
        Assert.Equal(p1, p2);
    }

    [Fact]
    public void One_cycle_follows_pytorch_onecyclelr()
    {
        var s = new OneCycleSchedule(0.1, TotalSteps: 100, PctStart: 0.25);
        Assert.Equal(0.1 / 25, s.At(0).LearningRate, 12);
        Assert.Equal(0.95, s.At(0).Momentum, 12);
        // Warm-up ends at step pct_start * total - 1 = 24: the peak rate and the lowest momentum.
        Assert.Equal(0.1, s.At(24).LearningRate, 12);
        Assert.Equal(0.85, s.At(24).Momentum, 12);
        Assert.Equal(0.1 / 25 / 1e4, s.At(99).LearningRate, 12);
        Assert.Equal(0.95, s.At(99).Momentum, 12);
        // Halfway through warm-up, cosine annealing is exactly halfway.
        var mid = new OneCycleSchedule(1.0, TotalSteps: 42, PctStart: 0.5, DivFactor: 10);
        Assert.Equal((1.0 + 0.1) / 2, mid.At(10).LearningRate, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.At(100));
    }
}
