using System.Text.Json;
using DataParallel.Shared.Data;
using DataParallel.Tests.Support;
using SkiaSharp;

namespace DataParallel.Tests.Integration;

/// <summary>`predict` on real pictures of MNIST digits (the committed one, and others drawn at other sizes, polarities and formats).</summary>
[Collection(ProcessCollection.Name)]
public sealed class PredictCommandTests
{
    private static (int Code, string Stdout, string Stderr) Predict(params string[] args) =>
        ProgramProcess.Run("Coordinator", ["predict", .. args], TimeSpan.FromMinutes(2));

    /// <summary>
    /// MNIST test image <paramref name="index"/> drawn <paramref name="factor"/> times larger at (x, y) on a page of the given size.
    /// </summary>
    private static string Draw(string directory, int index, int factor, int width, int height, int x, int y, bool darkOnLight,
        SKEncodedImageFormat format)
    {
        var image = Repository.Test.Image(index);
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var paper = darkOnLight ? (byte)235 : (byte)10;
        bitmap.Erase(new SKColor(paper, paper, paper));
        for (var py = 0; py < MnistDataset.Side * factor; py++)
            for (var px = 0; px < MnistDataset.Side * factor; px++)
            {
                var v = image[py / factor * MnistDataset.Side + px / factor];
                if (v == 0) continue;
                var level = darkOnLight ? (byte)(paper - v * (paper - 20) / 255) : (byte)(paper + v * (245 - paper) / 255);
                bitmap.SetPixel(x + px, y + py, new SKColor(level, level, level));
            }
        var path = Path.Combine(directory, $"test-{index}-{(darkOnLight ? "dark" : "light")}.{(format == SKEncodedImageFormat.Png ? "png" : "jpg")}");
        using var data = bitmap.Encode(format, 90);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void The_committed_digit_is_read_with_its_ten_probabilities()
    {
        var digit = Path.Combine(Repository.Root, "docs", "digit-7.png");
        var (code, stdout, stderr) = Predict(TrainedRun.Value.RunDirectory, digit);
        Assert.True(code == 0, stderr + stdout);
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(digit)}: 7 \(\d+\.\d\d%\)$", lines[0]);
        var percentages = lines[1].Split("  ", StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim().Split(": ")).ToList();
        Assert.Equal(Enumerable.Range(0, 10).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            percentages.Select(p => p[0]));
        Assert.Equal(100, percentages.Sum(p => double.Parse(p[1].TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture)), 0.1);
    }

    [Fact]
    public void Pictures_of_other_sizes_polarities_and_formats_are_read_as_MNIST_digits()
    {
        var dir = Repository.NewTempDirectory("predict");
        var images = new List<(string Path, int Label)>();
        for (var i = 0; i < 20; i++)
        {
            int label = Repository.Test.Labels[i];
            images.Add((Draw(dir, i, 4, 300, 200, 150, 40, darkOnLight: true, SKEncodedImageFormat.Png), label));
            images.Add((Draw(dir, i, 3, 90, 120, 2, 30, darkOnLight: false, SKEncodedImageFormat.Jpeg), label));
        }
        var (code, stdout, stderr) = Predict([TrainedRun.PathOf("model.pt"), .. images.Select(i => i.Path), "--json"]);
        Assert.True(code == 0, stderr + stdout);

        var document = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(TrainedRun.Value.Sha256, document.GetProperty("sha256").GetString());
        var predictions = document.GetProperty("predictions").EnumerateArray().ToList();
        Assert.Equal(images.Select(i => i.Path), predictions.Select(p => p.GetProperty("image").GetString()));
        foreach (var p in predictions)
        {
            var probabilities = p.GetProperty("probabilities").EnumerateArray().Select(v => v.GetDouble()).ToList();
            Assert.Equal(10, probabilities.Count);
            Assert.Equal(1, probabilities.Sum(), 1e-4);
            Assert.Equal(probabilities.IndexOf(probabilities.Max()), p.GetProperty("digit").GetInt32());
        }
        var right = predictions.Zip(images).Count(x => x.First.GetProperty("digit").GetInt32() == x.Second.Label);
        // The model is right on 95% of MNIST's test images; measured here: all 40 pictures right.
        Assert.True(right >= 36, $"only {right} of {images.Count} pictures read right:\n{stdout}");
    }

    [Fact]
    public void A_bad_picture_or_model_exits_1_with_one_line_and_no_prediction()
    {
        var dir = Repository.NewTempDirectory("predict-bad");
        var good = Path.Combine(Repository.Root, "docs", "digit-7.png");
        var text = Path.Combine(dir, "notes.png");
        File.WriteAllText(text, "this is not an image");
        var blank = Path.Combine(dir, "blank.png");
        using (var white = new SKBitmap(40, 40))
        {
            white.Erase(SKColors.White);
            using var data = white.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(blank, data.ToArray());
        }
        var model = TrainedRun.Value.RunDirectory;

        foreach (var (args, message) in new (string[], string)[]
        {
            ([model, good, text], $"error: {text}: not a PNG or JPEG image (cannot decode it)"),
            ([model, good, Path.Combine(dir, "missing.png")], $"error: {Path.Combine(dir, "missing.png")}: no such image file"),
            ([model, blank], $"error: {blank}: no digit found: the image is blank (contrast 0.00 between paper and ink)"),
            ([Path.Combine(dir, "model.safetensors"), good], $"error: {Path.Combine(dir, "model.safetensors")}: no such model file or run directory"),
        })
        {
            var (code, stdout, stderr) = Predict(args);
            Assert.Equal((1, "", message), (code, stdout, stderr.Trim()));
        }
    }
}
