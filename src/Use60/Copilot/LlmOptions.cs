using Use60.Hosting;

namespace Use60.Copilot;

/// <summary>Any OpenAI-compatible chat endpoint with tool calling: OpenAI, Azure OpenAI, Gemini, Ollama, vLLM.</summary>
[ConfigSection("OpenAI")]
public sealed class LlmOptions : IValidatedOptions
{
    public const string DefaultBaseUrl = "https://api.openai.com/v1";
    public const string DefaultModel = "gpt-4o-mini";

    [EnvironmentVariable("OPENAI_API_KEY",
        "API key of the chat endpoint (Ollama and vLLM accept any non-empty value). Unset: the copilot uses its offline planner (deterministic intent routing onto the same four tools).",
        Secret = true)]
    public string? ApiKey { get; set; }

    [EnvironmentVariable("OPENAI_BASE_URL",
        "Base URL of an OpenAI-compatible endpoint (default https://api.openai.com/v1; e.g. http://127.0.0.1:11434/v1 for Ollama).")]
    public string BaseUrl { get; set; } = DefaultBaseUrl;

    [EnvironmentVariable("OPENAI_MODEL", "Model name with tool calling (default gpt-4o-mini).")]
    public string Model { get; set; } = DefaultModel;

    [EnvironmentVariable("OPENAI_PRICE_PER_MTOK",
        "Optional: input,output price in USD per million tokens for the cost estimate, e.g. 0.15,0.60. Default: known models' list prices, else 0 (local models).")]
    public string? PricePerMillionTokens { get; set; }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(ApiKey);

    /// <summary>USD per million input and output tokens: the configured price, or the model's list price, or free.</summary>
    public (decimal Input, decimal Output) Price
    {
        get
        {
            if (PricePerMillionTokens?.Split(',') is [var i, var o]
                && decimal.TryParse(i, System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture, out var input)
                && decimal.TryParse(o, System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture, out var output))
                return (input, output);
            return Model.ToLowerInvariant() switch
            {
                var m when m.StartsWith("gpt-4o-mini") => (0.15m, 0.60m),
                var m when m.StartsWith("gpt-4o") => (2.50m, 10m),
                var m when m.StartsWith("gpt-4.1-mini") => (0.40m, 1.60m),
                var m when m.StartsWith("gpt-4.1-nano") => (0.10m, 0.40m),
                var m when m.StartsWith("gpt-4.1") => (2m, 8m),
                var m when m.StartsWith("gemini-2.0-flash") || m.StartsWith("gemini-2.5-flash-lite") => (0.10m, 0.40m),
                var m when m.StartsWith("gemini-2.5-flash") => (0.30m, 2.50m),
                _ => (0m, 0m),
            };
        }
    }

    public IEnumerable<string> Validate()
    {
        if (!ValidatedOptions.IsHttpUrl(BaseUrl))
            yield return $"OPENAI_BASE_URL must be an absolute http(s) URL such as {DefaultBaseUrl}.";
        if (string.IsNullOrWhiteSpace(Model))
            yield return $"OPENAI_MODEL is empty: name a model with tool calling, e.g. {DefaultModel}.";
        if (!string.IsNullOrWhiteSpace(PricePerMillionTokens) && PricePerMillionTokens.Split(',').Length != 2)
            yield return "OPENAI_PRICE_PER_MTOK must be two numbers, input and output USD per million tokens, e.g. 0.15,0.60.";
    }
}
