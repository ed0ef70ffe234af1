using DataParallel.Coordinator.Reporting;
using Spectre.Console;

namespace DataParallel.Tests.Unit;

public sealed class RunConsoleTests
{
    private static StepCompleted Step(int epoch, int step, int alive = 2) =>
        new(epoch, step, 4, 1.5, 32, 32 * (step + 1), 0.1 * (step + 1), alive, 0.1);

    [Fact]
    public void Redirected_output_gets_plain_lines_without_escape_codes()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        using (var console = RunConsole.Create(output, error))
        {
            Assert.IsType<PlainConsole>(console);
            console.Out.WriteLine("Epoch: 01 | loss: 0.5000");
            console.Show(EpochProgress.Start(1).After(Step(1, 0)));
            console.Error.WriteLine("warning: slow");
            console.EndProgress();
        }
        Assert.Equal("Epoch: 01 | loss: 0.5000\n", output.ToString());
        Assert.Equal("warning: slow\n", error.ToString());
    }

    [Fact]
    public void On_a_terminal_lines_scroll_above_the_bar_in_order_and_the_bar_is_cleared_at_the_end()
    {
        var screen = new StringWriter();
        var terminal = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            Interactive = InteractionSupport.Yes,
            ColorSystem = ColorSystemSupport.Standard,
            Out = new AnsiConsoleOutput(screen),
        });
        var error = new StringWriter();
        using (var console = new LiveConsole(terminal, error, errorOnTerminal: true))
        {
            var progress = EpochProgress.Start(2).WithWorkers(2, 2);
            console.Out.WriteLine("before the bar");
            console.Show(progress = progress.After(Step(1, 0)));
            console.Out.WriteLine("worker w2 left");
            console.Show(progress = progress.WithWorkers(1, 2));
            console.Error.WriteLine("straggler [not markup]");
            console.Show(progress = progress.After(Step(1, 1, alive: 1)));
            console.Flush();
            console.Show(null);
            console.Out.WriteLine("Epoch: 01");
            console.EndProgress();
            console.Out.WriteLine("Testing");
        }
        var text = screen.ToString();
        Assert.Equal("", error.ToString()); // stderr shares the terminal: its lines went above the bar
        var order = new[] { "before the bar", "epoch 01/02", "worker w2 left", "workers 1/2", "straggler [not markup]", "Epoch: 01", "Testing" }
            .Select(s => text.IndexOf(s, StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(-1, order);
        Assert.Equal(order.Order(), order);
        // The cursor is hidden while the bar shows, and shown again once it is gone, before the last line.
        var hidden = text.IndexOf("\u001b[?25l", StringComparison.Ordinal);
        var shown = text.LastIndexOf("\u001b[?25h", StringComparison.Ordinal);
        Assert.InRange(hidden, order[0], order[1]);
        Assert.InRange(shown, text.LastIndexOf("workers 1/2", StringComparison.Ordinal), order[^1]);
    }

    [Fact]
    public void Lines_written_after_disposal_still_come_out()
    {
        var screen = new StringWriter();
        var terminal = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes, Interactive = InteractionSupport.Yes, Out = new AnsiConsoleOutput(screen),
        });
        var error = new StringWriter();
        var console = new LiveConsole(terminal, error, errorOnTerminal: false);
        console.Dispose();
        console.Error.WriteLine("warning: late");
        Assert.Equal("warning: late\n", error.ToString());
    }
}
