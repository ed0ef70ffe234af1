namespace DataParallel.Shared.Training;

/// <summary>
/// An optimizer over a flat parameter vector, in float32 and in a fixed element order, with PyTorch's
/// update rules. Its state is a list of vectors the same length as the parameters, so it can be
/// checkpointed, shipped and averaged like the parameters themselves.
/// </summary>
public interface IOptimizer
{
    string Name { get; }
    /// <summary>Steps taken so far (Adam's bias correction and SGD's first-step momentum depend on it).</summary>
    long StepCount { get; }
    IReadOnlyList<float[]> State { get; }
    /// <param name="momentum">SGD's momentum, or Adam's beta1, for this step (one-cycle varies it).</param>
    void Step(Span<float> parameters, ReadOnlySpan<float> gradients, double learningRate, double momentum);
    void Restore(long stepCount, IReadOnlyList<float[]> state);
}

/// <summary>torch.optim.SGD: weight decay, momentum (dampening 0), optionally Nesterov.</summary>
public sealed class Sgd(int length, bool nesterov, double weightDecay = 0) : IOptimizer
{
    private float[] _velocity = new float[length];

    public string Name => nesterov ? "sgd-nesterov" : "sgd";
    public long StepCount { get; private set; }
    public IReadOnlyList<float[]> State => [_velocity];

    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients, double learningRate, double momentum)
    {
        Check(parameters.Length, gradients.Length, _velocity.Length);
        float lr = (float)learningRate, mu = (float)momentum, wd = (float)weightDecay;
        var first = StepCount == 0;
        for (var i = 0; i < parameters.Length; i++)
        {
            var d = gradients[i];
            if (wd != 0) d += wd * parameters[i];
            if (mu != 0)
            {
                var v = first ? d : mu * _velocity[i] + d;
                _velocity[i] = v;
                d = nesterov ? d + mu * v : v;
            }
            parameters[i] -= lr * d;
        }
        StepCount++;
    }

    public void Restore(long stepCount, IReadOnlyList<float[]> state)
    {
        if (state.Count != 1 || state[0].Length != _velocity.Length)
            throw new ArgumentException($"SGD state needs one vector of {_velocity.Length} values");
        StepCount = stepCount;
        _velocity = (float[])state[0].Clone();
    }

    internal static void Check(int parameters, int gradients, int state)
    {
        if (parameters != state || gradients != state)
            throw new ArgumentException($"optimizer for {state} parameters given {parameters} parameters and {gradients} gradients");
    }
}

/// <summary>torch.optim.Adam (L2 weight decay added to the gradient, not decoupled).</summary>
public sealed class Adam(int length, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0) : IOptimizer
{
    private float[] _m = new float[length];
    private float[] _v = new float[length];

    public string Name => "adam";
    public long StepCount { get; private set; }
    public IReadOnlyList<float[]> State => [_m, _v];

    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients, double learningRate, double momentum)
    {
        Sgd.Check(parameters.Length, gradients.Length, _m.Length);
        StepCount++;
        float beta1 = (float)momentum, b2 = (float)beta2, wd = (float)weightDecay, eps = (float)epsilon;
        var biasCorrection1 = 1 - Math.Pow(momentum, StepCount);
        var biasCorrection2 = 1 - Math.Pow(beta2, StepCount);
        var stepSize = (float)(learningRate / biasCorrection1);
        var sqrtBias2 = (float)Math.Sqrt(biasCorrection2);
        for (var i = 0; i < parameters.Length; i++)
        {
            var g = gradients[i];
            if (wd != 0) g += wd * parameters[i];
            _m[i] = _m[i] + (g - _m[i]) * (1 - beta1);
            _v[i] = _v[i] * b2 + (1 - b2) * g * g;
            var denom = MathF.Sqrt(_v[i]) / sqrtBias2 + eps;
            parameters[i] -= stepSize * (_m[i] / denom);
        }
    }

    public void Restore(long stepCount, IReadOnlyList<float[]> state)
    {
        if (state.Count != 2 || state[0].Length != _m.Length || state[1].Length != _v.Length)
            throw new ArgumentException($"Adam state needs two vectors of {_m.Length} values");
        StepCount = stepCount;
        _m = (float[])state[0].Clone();
        _v = (float[])state[1].Clone();
    }
}

public static class Optimizers
{
    public static IOptimizer Create(string name, int length, double weightDecay) => name switch
    {
        "sgd" => new Sgd(length, nesterov: false, weightDecay),
        "nesterov" or "sgd-nesterov" => new Sgd(length, nesterov: true, weightDecay),
        "adam" => new Adam(length, weightDecay: weightDecay),
        _ => throw new ArgumentException($"unknown optimizer '{name}' (sgd, nesterov, adam)"),
    };

    public static readonly string[] Names = ["sgd", "nesterov", "adam"];
}
