using Use60.Hosting;

namespace Use60.Copilot;

/// <summary>Any OpenAI-compatible chat endpoint with tool calling: OpenAI, Azure OpenAI, Gemini, Ollama, vLLM.</summary>
[ConfigSection("OpenAI")]
public sealed class LlmOptions : IValidatedOptions
{
    public const string DefaultBaseUrl = "https://api.openai.com/v1";
    public const string DefaultModel = "gpt-4o-mini";

    [EnvironmentVariable("OPENAI_API_KEY",
        "API key of the chat endpoint. Unset: the copilot uses its offline planner (deterministic intent routing onto the same four tools).",
        Secret = true)]
    public string? ApiKey { get; set; }

    [EnvironmentVariable("OPENAI_BASE_URL",
        "Base URL of an OpenAI-compatible endpoint (default https://api.openai.com/v1; e.g. http://127.0.0.1:11434/v1 for Ollama).")]
    public string BaseUrl { get; set; } = DefaultBaseUrl;

    [EnvironmentVariable("OPENAI_MODEL", "Model name with tool calling (default gpt-4o-mini).")]
    public string Model { get; set; } = DefaultModel;

    public IEnumerable<string> Validate()
    {
        if (!ValidatedOptions.IsHttpUrl(BaseUrl))
            yield return $"OPENAI_BASE_URL must be an absolute http(s) URL such as {DefaultBaseUrl}.";
        if (string.IsNullOrWhiteSpace(Model))
            yield return $"OPENAI_MODEL is empty: name a model with tool calling, e.g. {DefaultModel}.";
    }
}
