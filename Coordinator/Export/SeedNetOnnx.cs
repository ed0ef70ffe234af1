using System.Runtime.InteropServices;
using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using static TorchSharp.torch;

namespace DataParallel.Coordinator.Export;

/// <summary>
/// The seed model in inference mode as an ONNX graph (opset 13): BatchNorm with its running statistics, no
/// dropout. Input <c>N x 1 x 28 x 28</c> float, normalised as in training; output <c>N x 10</c> log-probabilities.
/// The graph follows <see cref="SeedNet.forward"/> layer by layer; its weights are the state dict's tensors
/// under their own names, so a reader of the ONNX file sees the same names as in model.pt.
/// </summary>
public static class SeedNetOnnx
{
    public const string InputName = "input";
    public const string OutputName = "log_probabilities";
    public const int Opset = 13;
    // IR version 7 is the one that came with opset 13 (ONNX 1.8): the oldest runtime that knows the opset reads it.
    private const long IrVersion = 7;
    private const double BatchNormEpsilon = 1e-5;

    // Field numbers of onnx.proto (ONNX 1.8 and later).
    private static class Model
    {
        public const int IrVersion = 1, ProducerName = 2, ProducerVersion = 3, DocString = 6, Graph = 7, OpsetImport = 8, MetadataProps = 14;
    }
    private static class OpsetId { public const int Version = 2; }
    private static class Graph { public const int Node = 1, Name = 2, Initializer = 5, Input = 11, Output = 12; }
    private static class Node { public const int Input = 1, Output = 2, Name = 3, OpType = 4, Attribute = 5; }
    private static class Attribute
    {
        public const int Name = 1, F = 2, I = 3, Ints = 8, Type = 20;
        public const int TypeFloat = 1, TypeInt = 2, TypeInts = 7;
    }
    private static class Tensor { public const int Dims = 1, DataType = 2, Name = 8, RawData = 9; public const int Float = 1; }
    private static class ValueInfo { public const int Name = 1, Type = 2; }
    private static class TypeProto { public const int TensorType = 1, ElemType = 1, Shape = 2; }
    private static class Shape { public const int Dim = 1, DimValue = 1, DimParam = 2; }
    private static class Entry { public const int Key = 1, Value = 2; }

    /// <param name="metadata">Key-value pairs stored in the model (ONNX Runtime shows them as custom metadata).</param>
    public static byte[] Build(StateLayout layout, float[] parameters, float[] buffers, IReadOnlyDictionary<string, string> metadata)
    {
        var graph = new ProtoMessage().String(Graph.Name, "SeedNet");
        var initialized = new HashSet<string>();
        void Weight(string name)
        {
            if (!initialized.Add(name)) return;
            var entry = layout.Entries.SingleOrDefault(e => e.Name == name)
                ?? throw new ArgumentException($"the model has no tensor {name}: SeedNetOnnx no longer matches SeedNet");
            if (entry.DType != ScalarType.Float32) throw new ArgumentException($"{name} is {entry.DType}, not float32");
            var values = (entry.IsParameter ? parameters : buffers).AsSpan(entry.Offset, entry.Length);
            graph.Message(Graph.Initializer, new ProtoMessage()
                .Int64s(Tensor.Dims, entry.Shape)
                .Int64(Tensor.DataType, Tensor.Float)
                .String(Tensor.Name, name)
                .Bytes(Tensor.RawData, LittleEndian(values)));
        }

        var x = InputName;
        var count = 0;
        string Add(string op, string[] inputs, ProtoMessage[]? attributes = null, string? name = null)
        {
            var output = name ?? $"{op.ToLowerInvariant()}_{++count}";
            var node = new ProtoMessage();
            foreach (var i in inputs) node.String(Node.Input, i);
            node.String(Node.Output, output).String(Node.Name, output).String(Node.OpType, op);
            foreach (var a in attributes ?? []) node.Message(Node.Attribute, a);
            graph.Message(Graph.Node, node);
            return output;
        }
        string Conv(string input, string module, int kernel, int padding)
        {
            Weight($"{module}.weight");
            Weight($"{module}.bias");
            return Add("Conv", [input, $"{module}.weight", $"{module}.bias"],
                [Ints("kernel_shape", kernel, kernel), Ints("pads", padding, padding, padding, padding), Ints("strides", 1, 1)]);
        }
        string BatchNorm(string input, string module)
        {
            foreach (var t in new[] { "weight", "bias", "running_mean", "running_var" }) Weight($"{module}.{t}");
            return Add("BatchNormalization", [input, $"{module}.weight", $"{module}.bias", $"{module}.running_mean", $"{module}.running_var"],
                [FloatAttribute("epsilon", (float)BatchNormEpsilon)]);
        }

        for (var block = 0; block < 3; block++)
        {
            for (var i = 2 * block + 1; i <= 2 * block + 2; i++)
                x = BatchNorm(Add("Relu", [Conv(x, $"conv{i}", 3, 1)]), $"bn{i}");
            x = Add("AveragePool", [x], [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)]);
        }
        x = Add("Relu", [Conv(x, "conv7", 1, 0)]);
        x = Add("Flatten", [x], [IntAttribute("axis", 1)]);
        Weight("fc.weight");
        Weight("fc.bias");
        x = Add("Gemm", [x, "fc.weight", "fc.bias"], [IntAttribute("transB", 1)]);
        Add("LogSoftmax", [x], [IntAttribute("axis", 1)], OutputName);

        graph.Message(Graph.Input, TensorValue(InputName, null, 1, MnistDataset.Side, MnistDataset.Side));
        graph.Message(Graph.Output, TensorValue(OutputName, null, SeedNet.Classes));

        var model = new ProtoMessage()
            .Int64(Model.IrVersion, IrVersion)
            .String(Model.ProducerName, "DataParallel")
            .String(Model.ProducerVersion, typeof(SeedNetOnnx).Assembly.GetName().Version?.ToString() ?? "0")
            .String(Model.DocString, "SeedNet trained on MNIST. Input: N x 1 x 28 x 28 float, pixels / 255 then (x - 0.1307) / 0.3081. "
                + "Output: N x 10 log-probabilities.")
            .Message(Model.Graph, graph)
            .Message(Model.OpsetImport, new ProtoMessage().Int64(OpsetId.Version, Opset));
        foreach (var (key, value) in metadata)
            model.Message(Model.MetadataProps, new ProtoMessage().String(Entry.Key, key).String(Entry.Value, value));
        return model.ToArray();
    }

    /// <summary>A float tensor's name and shape; a null dimension is the dynamic batch "N".</summary>
    private static ProtoMessage TensorValue(string name, params int?[] dims)
    {
        var shape = new ProtoMessage();
        foreach (var d in dims)
            shape.Message(Shape.Dim, d is { } v ? new ProtoMessage().Int64(Shape.DimValue, v) : new ProtoMessage().String(Shape.DimParam, "N"));
        var tensorType = new ProtoMessage().Int64(TypeProto.ElemType, Tensor.Float).Message(TypeProto.Shape, shape);
        return new ProtoMessage().String(ValueInfo.Name, name).Message(ValueInfo.Type, new ProtoMessage().Message(TypeProto.TensorType, tensorType));
    }

    private static ProtoMessage Ints(string name, params long[] values) =>
        new ProtoMessage().String(Attribute.Name, name).Int64s(Attribute.Ints, values).Int64(Attribute.Type, Attribute.TypeInts);

    private static ProtoMessage IntAttribute(string name, long value) =>
        new ProtoMessage().String(Attribute.Name, name).Int64(Attribute.I, value).Int64(Attribute.Type, Attribute.TypeInt);

    private static ProtoMessage FloatAttribute(string name, float value) =>
        new ProtoMessage().String(Attribute.Name, name).Float(Attribute.F, value).Int64(Attribute.Type, Attribute.TypeFloat);

    private static byte[] LittleEndian(ReadOnlySpan<float> values)
    {
        var bytes = MemoryMarshal.AsBytes(values).ToArray();
        if (!BitConverter.IsLittleEndian)
            for (var i = 0; i < bytes.Length; i += 4) Array.Reverse(bytes, i, 4);
        return bytes;
    }
}
