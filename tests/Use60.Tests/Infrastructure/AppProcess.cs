using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Use60.Hosting;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// The built app run as its own process (dotnet Use60.dll ...), as an operator or a container runs it: for the
/// command-line verbs, for what it prints, and for several replicas at once.
/// </summary>
public sealed partial class AppProcess : IAsyncDisposable
{
    readonly Process process;
    readonly StringBuilder output = new();
    readonly TaskCompletionSource<Uri> listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    AppProcess(Process process) => this.process = process;

    /// <summary>Everything written to stdout and stderr so far.</summary>
    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>Runs a command to completion: exit code and combined output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        await using var app = Start(environment, args);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await app.process.WaitForExitAsync(timeout.Token);
        app.process.WaitForExit(); // flushes the output events
        return (app.process.ExitCode, app.Output);
    }

    /// <summary>Starts the HTTP server (by default on a free port of 127.0.0.1) and waits until it listens.</summary>
    public static async Task<(AppProcess App, Uri Url)> ServeAsync(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var app = Start(environment, args.Length > 0 ? args : ["--urls", "http://127.0.0.1:0"]);
        var exited = app.process.WaitForExitAsync();
        var first = await Task.WhenAny(app.listening.Task, exited, Task.Delay(TimeSpan.FromMinutes(1)));
        if (first != app.listening.Task)
            throw new InvalidOperationException($"The app did not start listening:\n{app.Output}");
        return (app, await app.listening.Task);
    }

    /// <summary>The environment a test database gives the app (and nothing from the developer's own shell).</summary>
    public static Dictionary<string, string?> EnvironmentFor(TestDatabase database) => new()
    {
        ["DATABASE_URL"] = database.AppConnectionString,
        ["DATABASE_OWNER_URL"] = database.OwnerConnectionString,
    };

    static AppProcess Start(IReadOnlyDictionary<string, string?> environment, string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.Combine(RepositoryRoot, "src", "Use60"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(AppDll);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var variable in EnvironmentVariables.All) start.Environment.Remove(variable.Name);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment) start.Environment[name] = value;

        var app = new AppProcess(new Process { StartInfo = start, EnableRaisingEvents = true });
        DataReceivedEventHandler collect = (_, e) =>
        {
            if (e.Data is null) return;
            lock (app.output) app.output.AppendLine(e.Data);
            if (ListeningOn().Match(e.Data) is { Success: true } match) app.listening.TrySetResult(new Uri(match.Value));
        };
        app.process.OutputDataReceived += collect;
        app.process.ErrorDataReceived += collect;
        app.process.Start();
        app.process.BeginOutputReadLine();
        app.process.BeginErrorReadLine();
        return app;
    }

    /// <summary>Kills the process outright (SIGKILL), as the OOM killer or a lost node would: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        if (process.HasExited) return;
        Process.Start("kill", ["-KILL", process.Id.ToString()])?.WaitForExit();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync(timeout.Token);
    }

    /// <summary>Stops the server the way a container runtime does (SIGTERM), and waits for it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            Process.Start("kill", ["-TERM", process.Id.ToString()])?.WaitForExit();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); }
        }
        process.Dispose();
    }

    static string AppDll
    {
        get
        {
            // The test assembly is in tests/Use60.Tests/bin/<Configuration>/net10.0; the app is built beside it.
            var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var dll = Path.Combine(RepositoryRoot, "src", "Use60", "bin", framework.Parent!.Name, framework.Name, "Use60.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the app first (dotnet build Use60.sln)", dll);
        }
    }

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Use60.sln"))) return dir.FullName;
        throw new InvalidOperationException("Use60.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+(?=[^\d]|$)")]
    private static partial Regex ListeningOn();
}
