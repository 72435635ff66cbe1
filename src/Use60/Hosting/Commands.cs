using Microsoft.Extensions.Options;
using Use60.Data;

namespace Use60.Hosting;

public sealed record CommandContext(IReadOnlyList<string> Args, TextWriter Out, TextWriter Error, CancellationToken CancellationToken);

/// <summary>A command-line verb (dotnet run --project src/Use60 -- VERB ...). Features register their own.</summary>
public interface ICommand
{
    string Name { get; }
    string Usage { get; }
    string Summary { get; }
    Task<int> RunAsync(CommandContext context);
}

public static class Commands
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int BadUsage = 2;

    public static IServiceCollection AddCommand<T>(this IServiceCollection services) where T : class, ICommand =>
        services.AddTransient<ICommand, T>();

    /// <summary>Runs the command named by the first argument, or serves HTTP when there is none.</summary>
    public static async Task<int> RunOrCommandAsync(this WebApplication app, string[] args)
    {
        var output = Console.Out;
        var error = Console.Error;
        try
        {
            if (args.Length == 0 || args[0].StartsWith('-'))
            {
                await app.RunAsync();
                return Ok;
            }
            await using var scope = app.Services.CreateAsyncScope();
            var commands = scope.ServiceProvider.GetServices<ICommand>().OrderBy(c => c.Name).ToList();
            var command = commands.FirstOrDefault(c => c.Name == args[0]);
            if (command is null)
            {
                var isHelp = args[0] is "help" or "--help" or "-h";
                var writer = isHelp ? output : error;
                if (!isHelp) writer.WriteLine($"Unknown command '{args[0]}'.");
                writer.WriteLine("Usage: dotnet run --project src/Use60 [-- COMMAND]   (no command: serve HTTP)");
                foreach (var c in commands) writer.WriteLine($"  {c.Usage,-36} {c.Summary}");
                return isHelp ? Ok : BadUsage;
            }
            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
            return await command.RunAsync(new CommandContext(args[1..], output, error, cancel.Token));
        }
        catch (Exception e) when (Explain(e) is { } explanation)
        {
            error.WriteLine(explanation);
            return Failed;
        }
    }

    /// <summary>The problems a person can fix, said plainly; anything else is a bug and keeps its stack trace.</summary>
    static string? Explain(Exception e) => e switch
    {
        OptionsValidationException options => "use60 cannot start, its configuration needs attention:\n" +
                                              string.Join("\n", options.Failures.Select(f => "  - " + f)),
        AggregateException aggregate when aggregate.InnerExceptions.All(i => Explain(i) is not null) =>
            string.Join("\n", aggregate.InnerExceptions.Select(Explain)),
        StartupException startup => "use60 cannot start: " + startup.Message,
        _ => null,
    };
}
