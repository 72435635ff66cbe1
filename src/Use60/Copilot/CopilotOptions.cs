using Use60.Hosting;

namespace Use60.Copilot;

/// <summary>The copilot's bounds: how far one LLM answer may go, and the usage limits (the seeds' chat credits).</summary>
[ConfigSection("Copilot")]
public sealed class CopilotOptions : IValidatedOptions
{
    [EnvironmentVariable("COPILOT_MAX_STEPS", "Most model calls in one answer (tool-call loop limit); default 8.")]
    public int MaxSteps { get; set; } = 8;

    [EnvironmentVariable("COPILOT_TIMEOUT_SECONDS", "Most seconds one LLM answer may take before the rep gets a short apology; default 60.")]
    public int TimeoutSeconds { get; set; } = 60;

    [EnvironmentVariable("COPILOT_MONTHLY_TOKEN_BUDGET",
        "LLM tokens (input + output) one org may use per calendar month (UTC); past it the offline planner answers. Default 2000000; 0 turns the LLM off.")]
    public long MonthlyTokenBudget { get; set; } = 2_000_000;

    [EnvironmentVariable("COPILOT_REQUESTS_PER_MINUTE", "Copilot requests one rep may make per minute before the offline planner answers; default 10.")]
    public int RequestsPerMinute { get; set; } = 10;

    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    public IEnumerable<string> Validate()
    {
        if (MaxSteps is < 1 or > 50) yield return "COPILOT_MAX_STEPS must be between 1 and 50.";
        if (TimeoutSeconds is < 1 or > 600) yield return "COPILOT_TIMEOUT_SECONDS must be between 1 and 600.";
        if (MonthlyTokenBudget < 0) yield return "COPILOT_MONTHLY_TOKEN_BUDGET cannot be negative (0 turns the LLM off).";
        if (RequestsPerMinute is < 1 or > 10_000) yield return "COPILOT_REQUESTS_PER_MINUTE must be between 1 and 10000.";
    }
}
