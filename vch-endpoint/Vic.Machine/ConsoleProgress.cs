using Spectre.Console;

namespace Vic.Machine;

/// <summary>Progress on the operator's terminal: a ticked line per step, a bar while a long step runs.</summary>
public sealed class ConsoleProgress : MachineProgress
{
    public override void Step(string text) => AnsiConsole.MarkupLine($"[green]✓[/] {Markup.Escape(text)}");

    public override Task TrackAsync(string description, double total, Func<Action<double>, Task> work)
    {
        // Piped or in a script there is no bar to redraw: the step's line says it all.
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            return work(_ => { });
        }

        return AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(description), maxValue: total);
                await work(done => task.Value = Math.Min(done, total)).ConfigureAwait(false);
                task.Value = total;
            });
    }
}
