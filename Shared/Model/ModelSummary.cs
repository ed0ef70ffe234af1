using System.Globalization;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Shared.Model;

/// <summary>One row of the summary: a leaf layer, the shape it produced and the parameters it owns.</summary>
public sealed record LayerSummary(string Name, string Type, long[] OutputShape, long Parameters, long TrainableParameters);

/// <summary>
/// A torchsummary-style table computed by running a forward pass with hooks on every leaf layer, so it
/// describes the model as it really is rather than as somebody wrote it down.
/// </summary>
public sealed class ModelSummary
{
    private ModelSummary(IReadOnlyList<LayerSummary> layers, long[] inputShape, long totalParameters, long trainable)
    {
        Layers = layers;
        InputShape = inputShape;
        TotalParameters = totalParameters;
        TrainableParameters = trainable;
    }

    public IReadOnlyList<LayerSummary> Layers { get; }
    public long[] InputShape { get; }
    public long TotalParameters { get; }
    public long TrainableParameters { get; }
    public long NonTrainableParameters => TotalParameters - TrainableParameters;

    public double InputMegabytes => Elements(InputShape) * 4.0 / (1024 * 1024);
    /// <summary>Every layer's output, twice (activation and its gradient), as torchsummary counts it.</summary>
    public double ForwardBackwardMegabytes => 2.0 * Layers.Sum(l => Elements(l.OutputShape)) * 4.0 / (1024 * 1024);
    public double ParameterMegabytes => TotalParameters * 4.0 / (1024 * 1024);
    public double TotalMegabytes => InputMegabytes + ForwardBackwardMegabytes + ParameterMegabytes;

    /// <summary>Elements of one example (the batch dimension, -1, counts as one).</summary>
    private static long Elements(long[] shape) => shape.Aggregate(1L, (a, b) => a * Math.Abs(b));

    /// <param name="inputShape">One example's shape, without the batch dimension (for MNIST: 1, 28, 28).</param>
    public static ModelSummary Of(nn.Module<Tensor, Tensor> model, params long[] inputShape)
    {
        // A channels-last SeedNet convolves through the functional API, which module hooks never see.
        if (model is SeedNet { IsChannelsLast: true })
            throw new ArgumentException("summarise a SeedNet built with channelsLast: false (its layers' shapes are the same)", nameof(model));
        var layers = new List<LayerSummary>();
        var hooks = new List<Action>();
        var counts = new Dictionary<string, int>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module.named_children().Any() || module is not nn.Module<Tensor, Tensor> leaf) continue;
            var parameters = leaf.parameters(recurse: false).Sum(p => p.numel());
            var trainable = leaf.parameters(recurse: false).Where(p => p.requires_grad).Sum(p => p.numel());
            var type = leaf.GetName();
            var remover = leaf.register_forward_hook((m, input, output) =>
            {
                var shape = output.shape.ToArray();
                shape[0] = -1;
                var index = layers.Count + 1;
                layers.Add(new LayerSummary($"{type}-{index}", type, shape, parameters, trainable));
                return null!; // null keeps the layer's own output
            });
            hooks.Add(remover.remove);
        }

        var wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            model.call(zeros([2, .. inputShape]));
        }
        finally
        {
            foreach (var remove in hooks) remove();
            model.train(wasTraining);
        }
        var total = model.parameters().Sum(p => p.numel());
        var totalTrainable = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        return new ModelSummary(layers, [-1, .. inputShape], total, totalTrainable);
    }

    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        var line = new string('-', 64);
        var text = new StringBuilder();
        text.AppendLine(line);
        text.AppendLine($"{"Layer (type)",25} {"Output Shape",24} {"Param #",15}");
        text.AppendLine(new string('=', 64));
        foreach (var layer in Layers)
        {
            var shape = "[" + string.Join(", ", layer.OutputShape) + "]";
            text.AppendLine($"{layer.Name,25} {shape,24} {layer.Parameters.ToString("N0", c),15}");
        }
        text.AppendLine(new string('=', 64));
        text.AppendLine($"Total params: {TotalParameters.ToString("N0", c)}");
        text.AppendLine($"Trainable params: {TrainableParameters.ToString("N0", c)}");
        text.AppendLine($"Non-trainable params: {NonTrainableParameters.ToString("N0", c)}");
        text.AppendLine(line);
        text.AppendLine(string.Create(c, $"Input size (MB): {InputMegabytes:F2}"));
        text.AppendLine(string.Create(c, $"Forward/backward pass size (MB): {ForwardBackwardMegabytes:F2}"));
        text.AppendLine(string.Create(c, $"Params size (MB): {ParameterMegabytes:F2}"));
        text.AppendLine(string.Create(c, $"Estimated Total Size (MB): {TotalMegabytes:F2}"));
        text.AppendLine(line);
        return text.ToString();
    }
}
