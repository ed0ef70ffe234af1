namespace DataParallel.Shared.Training;

/// <summary>
/// Collects one step's micro-batch results by index and combines them in index order, never in arrival
/// order: float addition is not associative, and this is what makes the sum independent of which worker
/// answered first. Gradients and BatchNorm buffers are weighted by the micro-batch's example count, so
/// the result is the gradient of the mean loss over the whole global batch.
/// </summary>
public sealed class GradientCombiner
{
    private readonly GradientResult?[] _results;
    private int _received;

    public GradientCombiner(int microBatches)
    {
        if (microBatches <= 0) throw new ArgumentOutOfRangeException(nameof(microBatches));
        _results = new GradientResult?[microBatches];
    }

    public int Expected => _results.Length;
    public int Received => _received;
    public bool Complete => _received == _results.Length;

    /// <summary>Stores a result; returns false (and keeps the first) when the index already has one.</summary>
    public bool Add(int index, GradientResult result)
    {
        if (index < 0 || index >= _results.Length) throw new ArgumentOutOfRangeException(nameof(index), $"micro-batch {index} of {_results.Length}");
        if (_results[index] is not null) return false;
        _results[index] = result;
        _received++;
        return true;
    }

    public CombinedStep Combine()
    {
        if (!Complete) throw new InvalidOperationException($"{_received} of {_results.Length} micro-batches received");
        var first = _results[0]!;
        var gradients = new float[first.Gradients.Length];
        var buffers = new float[first.Buffers.Length];
        var total = 0;
        double lossSum = 0;
        var correct = 0;
        foreach (var r in _results)
        {
            total += r!.Count;
            lossSum += (double)r.Loss * r.Count;
            correct += r.Correct;
        }
        foreach (var r in _results)
        {
            var weight = (float)r!.Count / total;
            Accumulate(gradients, r.Gradients, weight);
            Accumulate(buffers, r.Buffers, weight);
        }
        return new CombinedStep(gradients, buffers, lossSum / total, correct, total);
    }

    private static void Accumulate(float[] sum, float[] values, float weight)
    {
        if (values.Length != sum.Length) throw new ArgumentException($"vector of {values.Length} values where {sum.Length} were expected");
        for (var i = 0; i < sum.Length; i++) sum[i] += weight * values[i];
    }
}

/// <summary>A whole step's averaged gradient and buffers, with the loss and accuracy of its global batch.</summary>
public sealed record CombinedStep(float[] Gradients, float[] Buffers, double Loss, int Correct, int Count);
