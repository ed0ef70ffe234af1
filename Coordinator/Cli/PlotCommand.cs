using DataParallel.Shared.Settings;
using System.CommandLine;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.Data;

namespace DataParallel.Coordinator.Cli;

/// <summary>`plot RUN_DIR`: Loss.png, Metrics.png and Workers.png rendered again from a run's metrics files.</summary>
public static class PlotCommand
{
    public static Command Create()
    {
        var directory = new Argument<string>("RUN_DIR") { Description = "Run directory (the --out of a train run)" };
        var command = new Command("plot",
            $"Render {RunPlots.LossFile}, {RunPlots.MetricsFile} and {RunPlots.WorkersFile} in RUN_DIR again from its {RunFiles.MetricsCsv} " +
            $"(or {RunFiles.MetricsJsonl}) and {RunFiles.ThroughputCsv}; on bad input nothing is written")
        {
            directory,
        };
        command.SetAction(parse => Run(parse.GetValue(directory)!, Console.Out, Console.Error));
        return command;
    }

    /// <summary>Reads and renders everything before writing anything, so bad input leaves the directory as it was.</summary>
    public static int Run(string directory, TextWriter output, TextWriter error)
    {
        if (!Directory.Exists(directory))
            return Fail(error, ExitCodes.Usage, $"{directory}: no such run directory");
        var files = new RunFiles(directory);
        IReadOnlyList<MetricsRow> epochs;
        IReadOnlyList<ThroughputSample> throughput;
        try
        {
            epochs = ReadMetrics(files);
            throughput = MetricsFiles.ReadThroughputCsv(files.PathOf(RunFiles.ThroughputCsv));
        }
        catch (DataFileException e)
        {
            return Fail(error, ExitCodes.Usage, e.Message);
        }

        try
        {
            files.WritePlots(RunPlots.Render(epochs, throughput));
        }
        catch (Exception e)
        {
            return Fail(error, ExitCodes.Failed, $"{directory}: cannot render or write the plots: {e.GetType().Name}: {e.Message}");
        }
        output.WriteLine($"wrote {RunPlots.LossFile}, {RunPlots.MetricsFile} and {RunPlots.WorkersFile} in {directory} "
            + $"({epochs.Count} epoch{(epochs.Count == 1 ? "" : "s")}, {throughput.Count} throughput samples)");
        return ExitCodes.Ok;
    }

    /// <summary>metrics.csv, or metrics.jsonl when the CSV is not there: both hold the same rows.</summary>
    private static IReadOnlyList<MetricsRow> ReadMetrics(RunFiles files)
    {
        var csv = files.PathOf(RunFiles.MetricsCsv);
        var jsonl = files.PathOf(RunFiles.MetricsJsonl);
        if (File.Exists(csv)) return MetricsFiles.ReadMetricsCsv(csv);
        if (File.Exists(jsonl)) return MetricsFiles.ReadMetricsJsonLines(jsonl);
        throw new DataFileException(csv, $"missing (and no {RunFiles.MetricsJsonl} either)");
    }

    private static int Fail(TextWriter error, int code, string message)
    {
        error.WriteLine($"error: {message}");
        return code;
    }
}
