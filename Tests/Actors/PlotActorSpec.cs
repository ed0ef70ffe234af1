using Akka.Actor;
using Akka.TestKit.Xunit2;
using DataParallel.Coordinator.Actors;
using DataParallel.Coordinator.Reporting;
using DataParallel.Tests.Support;
using DataParallel.Tests.Unit;

namespace DataParallel.Tests.Actors;

/// <summary>The plots are drawn on a thread of their own at nice 19 where the actor system has the coordinator's dispatcher.</summary>
public sealed class PlotActorSpec() : TestKit("akka.loglevel = WARNING\nakka.plot-dispatcher.type = PinnedDispatcher")
{
    private readonly string _dir = Repository.NewTempDirectory("plots");

    [Fact]
    public void It_draws_on_its_own_thread_at_the_lowest_priority_and_answers_a_flush_once_the_files_are_written()
    {
        var plots = Sys.ActorOf(PlotActor.Props(new RunFiles(_dir), Sys));
        var epochs = new[] { MetricsRow.Of(MetricsFilesTests.Epoch(1)), MetricsRow.Of(MetricsFilesTests.Epoch(2)) };
        plots.Tell(new PlotActor.Draw(epochs, [new(1, "w1", 64), new(2, "w1", 64)]));
        plots.Tell(PlotActor.Flush.Instance, TestActor);
        ExpectMsg<PlotActor.Flushed>(TimeSpan.FromSeconds(30));

        foreach (var png in new[] { RunPlots.LossFile, RunPlots.MetricsFile, RunPlots.WorkersFile })
            PngImage.Read(Path.Combine(_dir, png)).AssertIsChart(Plots.Width, Plots.Height);
        // Linux shows a thread's name cut to 15 characters; its nice value is field 19 of its stat line.
        var mine = Directory.GetDirectories("/proc/self/task")
            .Where(t => File.ReadAllText(Path.Combine(t, "comm")).Trim() == "akka.plot-dispa")
            .Select(t => File.ReadAllText(Path.Combine(t, "stat")))
            .Select(stat => int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16]))
            .ToList();
        Assert.NotEmpty(mine);
        Assert.All(mine, nice => Assert.Equal(19, nice));
    }

    [Fact]
    public void Its_warm_up_draws_the_three_charts_of_a_run_through_the_same_code()
    {
        var plots = PlotActor.WarmUpPlots();
        foreach (var png in new[] { plots.Loss, plots.Metrics, plots.Workers })
            PngImage.Decode(png).AssertIsChart(Plots.Width, Plots.Height);
    }
}
