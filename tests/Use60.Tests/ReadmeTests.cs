using System.Text.RegularExpressions;
using Use60.Hosting;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>The README is what a new user trusts: it must name every setting and the commands that really exist.</summary>
public sealed partial class ReadmeTests
{
    static readonly string Root = AppProcess.RepositoryRoot;
    static readonly string Readme = File.ReadAllText(Path.Combine(Root, "README.md"));

    [Fact]
    public void Every_environment_variable_the_app_reads_is_documented_with_whether_it_is_secret()
    {
        foreach (var variable in EnvironmentVariables.All)
        {
            var row = Readme.Split('\n').SingleOrDefault(line => line.StartsWith($"| `{variable.Name}` |"));
            Assert.True(row is not null, $"README.md has no table row for {variable.Name}");
            Assert.Equal(variable.Secret, row!.Split('|')[2].Trim() == "yes");
        }
        var documented = TableVariable().Matches(Readme).Select(m => m.Groups[1].Value).ToList();
        Assert.Empty(documented.Except(EnvironmentVariables.All.Select(v => v.Name)));
    }

    [Fact]
    public void The_two_commands_are_the_ones_ci_runs()
    {
        Assert.Contains("scripts/dev.sh", Readme);
        Assert.Contains("scripts/test.sh", Readme);
        Assert.Contains("scripts/test.sh", File.ReadAllText(Path.Combine(Root, ".ci", "run")));
        Assert.Matches(@"(?m)^cd ""\$\(dirname ""\$0""\)/\.\.""$", File.ReadAllText(Path.Combine(Root, ".ci", "run")));
    }

    [Fact]
    public async Task The_command_verbs_in_the_readme_are_the_ones_the_app_has()
    {
        var (exitCode, help) = await AppProcess.RunAsync(new Dictionary<string, string?>(), "help");
        Assert.Equal(0, exitCode);
        var registered = HelpVerb().Matches(help).Select(m => m.Groups[1].Value).Append("help").Order().ToList();
        Assert.Contains("seed-demo", registered);
        Assert.Equal(registered, Verb().Matches(Readme).Select(m => m.Groups[1].Value).Distinct().Order());
    }

    [GeneratedRegex(@"(?m)^\| `([A-Z0-9_]+)` \|")]
    private static partial Regex TableVariable();

    [GeneratedRegex(@"(?m)^  ([a-z][a-z-]+)")]
    private static partial Regex HelpVerb();

    [GeneratedRegex(@"dotnet run --project src/Use60 -- ([a-z-]+)")]
    private static partial Regex Verb();
}
