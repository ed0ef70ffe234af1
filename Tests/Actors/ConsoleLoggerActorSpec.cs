using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using DataParallel.Coordinator.Actors;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.Cluster;

namespace DataParallel.Tests.Actors;

/// <summary>Akka's log goes through the run's console, with the loggers line of the real coordinator.hocon.</summary>
public sealed class ConsoleLoggerActorSpec
{
    private static (ActorSystem System, StringWriter Out, StringWriter Error) Start(string level)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = new PlainConsole(output, error);
        var config = ConfigurationFactory.ParseString($"akka.loglevel = {level}\nakka.stdout-loglevel = OFF\nakka.actor.provider = local")
            .WithFallback(ClusterConfig.RoleFile("coordinator.hocon"));
        Assert.Equal(["DataParallel.Coordinator.Actors.ConsoleLoggerActor, Coordinator"], config.GetStringList("akka.loggers"));
        var system = ActorSystem.Create("logger-spec", BootstrapSetup.Create().WithConfig(config).And(new ConsoleLoggerActor.Target(console)));
        return (system, output, error);
    }

    private static void Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.True(condition());
    }

    [Fact]
    public async Task Warnings_and_errors_go_to_stderr_and_debug_is_quiet_by_default()
    {
        var (system, output, error) = Start("WARNING");
        try
        {
            system.Log.Debug("not shown");
            system.Log.Info("not shown either");
            system.Log.Warning("Worker {0} was missing parameters", "w1");
            system.Log.Error(new Akka.Actor.ActorKilledException("boom\n   at somewhere"), "Step failed");
            system.Log.Error(new InvalidOperationException("bug\n   at our code"), "Compute failed");
            Eventually(() => error.ToString().Contains("error: Compute failed"));
            var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(5, lines.Length);
            Assert.StartsWith("warning: Worker w1 was missing parameters [", lines[0]);
            // Akka's own exceptions: one line. Anything else is a bug somewhere: the whole exception.
            Assert.StartsWith("error: Step failed [", lines[1]);
            Assert.EndsWith("]: ActorKilledException: boom ...", lines[1]);
            Assert.StartsWith("error: Compute failed [", lines[2]);
            Assert.Equal("System.InvalidOperationException: bug", lines[3]);
            Assert.Equal("   at our code", lines[4]);
            Assert.Equal("", output.ToString());
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Verbose_shows_debug_lines_and_whole_exceptions()
    {
        var (system, output, error) = Start("DEBUG");
        try
        {
            system.Log.Debug("joining {0}", "seed");
            system.Log.Warning(new InvalidOperationException("boom"), "with a cause");
            Eventually(() => output.ToString().Contains("debug: joining seed") && error.ToString().Contains("boom"));
            Assert.Contains("System.InvalidOperationException: boom", error.ToString());
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public void Messages_with_an_exception_inside_show_their_first_line_unless_verbose()
    {
        var warning = new Warning("akka.tcp://dataparallel@127.0.0.1:4053/system/endpointManager/x", typeof(object),
            "Association with remote system has failed. Reason is: [Akka.Remote.EndpointDisassociatedException: Disassociated\n"
            + "   at Akka.Remote.EndpointWriter.PublishAndThrow()]");
        Assert.Equal("warning: Association with remote system has failed. Reason is: "
            + "[Akka.Remote.EndpointDisassociatedException: Disassociated ... [/system/endpointManager/x]",
            DataParallel.Shared.Cluster.AkkaLogFormat.Format("warning", warning, withStackTraces: false));
        Assert.Contains("PublishAndThrow", DataParallel.Shared.Cluster.AkkaLogFormat.Format("warning", warning, withStackTraces: true));
    }
}
