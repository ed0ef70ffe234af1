using DataParallel.Shared.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Tests.Unit;

public sealed class ModelTests
{
    [Fact]
    public void TorchSharp_loads_and_computes()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        using var b = a.matmul(a);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, b.data<float>().ToArray());
    }

    [Fact]
    public void The_loaded_libLibTorchSharp_is_patched_where_libstdcxx_is_old()
    {
        var lib = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(lib), lib);
        var systemHasIt = File.Exists("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
            && System.Text.Encoding.ASCII.GetString(File.ReadAllBytes("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")).Contains("GLIBCXX_3.4.32\0");
        // A machine without binutils cannot check this: say so, never pass silently.
        Assert.True(File.Exists("/usr/bin/readelf"), "this test needs readelf: apt-get install binutils");
        var readelf = System.Diagnostics.Process.Start(
            new System.Diagnostics.ProcessStartInfo("readelf", ["-V", lib]) { RedirectStandardOutput = true })!;
        var output = readelf.StandardOutput.ReadToEnd();
        readelf.WaitForExit();
        var line = output.Split('\n').Single(l => l.Contains("Name: GLIBCXX_3.4.32"));
        Assert.Equal(!systemHasIt, line.Contains("Flags: WEAK"));
    }

    [Fact]
    public void Summary_has_the_seed_models_totals_and_shapes()
    {
        using var model = new SeedNet(channelsLast: false);
        using (var channelsLast = new SeedNet()) Assert.Throws<ArgumentException>(() => ModelSummary.Of(channelsLast, 1, 28, 28));
        var summary = ModelSummary.Of(model, 1, 28, 28);
        Assert.Equal(13_032, summary.TotalParameters);
        Assert.Equal(13_032, summary.TrainableParameters);
        Assert.Equal(0, summary.NonTrainableParameters);
        Assert.Equal(29, summary.Layers.Count);
        Assert.Equal(new long[] { -1, 16, 28, 28 }, summary.Layers[0].OutputShape);
        Assert.Equal(new long[] { -1, 16, 14, 14 }, summary.Layers.Single(l => l.Name == "AvgPool2d-7").OutputShape);
        Assert.Equal(new long[] { -1, 16, 3, 3 }, summary.Layers.Single(l => l.Name == "AvgPool2d-23").OutputShape);
        Assert.Equal(new long[] { -1, 10, 3, 3 }, summary.Layers.Single(l => l.Name == "Conv2d-25").OutputShape);
        Assert.Equal(new long[] { -1, 10 }, summary.Layers[^1].OutputShape);
        Assert.Equal(new long[] { 160, 2320, 2320, 2320, 2320, 2320, 170 }, summary.Layers.Where(l => l.Type == "Conv2d").Select(l => l.Parameters));
        Assert.Equal(910, summary.Layers.Single(l => l.Type == "Linear").Parameters);
        var text = summary.ToString();
        Assert.Contains("Total params: 13,032", text);
        Assert.Contains("Trainable params: 13,032", text);
        Assert.Contains("Non-trainable params: 0", text);
        Assert.Contains("Params size (MB): 0.05", text);
        Assert.Contains("Input size (MB): 0.00", text);
    }

    [Fact]
    public void State_layout_follows_pytorch_state_dict_order()
    {
        using var model = new SeedNet();
        var layout = StateLayout.Of(model);
        Assert.Equal(13_032, layout.ParameterLength);
        Assert.Equal(6 * (16 + 16 + 1), layout.BufferLength);
        Assert.Equal(
            new[]
            {
                "conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                "conv2.weight",
            },
            layout.Entries.Take(8).Select(e => e.Name));
        Assert.Equal(new[] { "conv7.weight", "conv7.bias", "fc.weight", "fc.bias" }, layout.Entries.TakeLast(4).Select(e => e.Name));
        Assert.Equal(16, layout.Fingerprint.Length);
    }

    [Fact]
    public void Parameters_and_buffers_round_trip_through_flat_vectors()
    {
        using var model = new SeedNet();
        var state = new ModelState(model);
        var parameters = Enumerable.Range(0, state.Layout.ParameterLength).Select(i => i * 1e-4f).ToArray();
        var buffers = Enumerable.Range(0, state.Layout.BufferLength).Select(i => (float)i).ToArray();
        state.WriteParameters(parameters);
        state.WriteBuffers(buffers);
        Assert.Equal(parameters, state.ReadParameters());
        Assert.Equal(buffers, state.ReadBuffers());
        var conv1 = model.named_parameters().First(p => p.name == "conv1.weight").parameter;
        Assert.Equal(1e-4f, conv1.data<float>()[0, 0, 0, 1]);
    }

    [Fact]
    public void Fingerprint_differs_for_a_different_architecture()
    {
        using var seed = new SeedNet();
        // Its layers draw from libtorch's global generator: built through Seeded, as every model is.
        using var other = SeedNet.Seeded(1, () => nn.Sequential(nn.Conv2d(1, 16, 3), nn.Flatten(), nn.Linear(16 * 26 * 26, 10)));
        Assert.NotEqual(StateLayout.Of(seed).Fingerprint, StateLayout.Of(other).Fingerprint);
        Assert.Equal(StateLayout.Of(seed).Fingerprint, SeedNetFingerprint.Value);
    }
}
