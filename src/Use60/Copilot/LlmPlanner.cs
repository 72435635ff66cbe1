using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;
using OpenAI;
using Use60.Data;

namespace Use60.Copilot;

/// <summary>
/// The planner on an OpenAI-compatible chat endpoint with tool calling (OpenAI, Azure OpenAI, Gemini, Ollama, vLLM):
/// the model sees the persona, the recent conversation and exactly the four tools, in a loop bounded by a step limit
/// and a timeout. Every model call is recorded (model, latency, tokens, estimated cost).
/// </summary>
public sealed class LlmPlanner(IOptions<LlmOptions> llm, IOptions<CopilotOptions> copilot, CopilotTools tools, CopilotSession session, Persona persona,
    CopilotLimits limits, Use60Db db, TimeProvider clock, ILogger<LlmPlanner> logger)
{
    public const string Name = "llm";

    public bool IsConfigured => llm.Value.IsConfigured;

    public async Task<PlannerAnswer> PlanAsync(string text, IReadOnlyList<ConversationMessage> history, CancellationToken cancellationToken)
    {
        var options = llm.Value;
        var calls = new List<LlmOutcome>();
        using var timeout = new CancellationTokenSource(copilot.Value.Timeout, clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var messages = new List<ChatMessage> { new(ChatRole.System, await persona.CompileAsync(session.User, session.Now, cancellationToken)) };
        messages.AddRange(history.Select(m => new ChatMessage(m.Role == MessageRole.User ? ChatRole.User : ChatRole.Assistant, m.Text)));
        messages.Add(new ChatMessage(ChatRole.User, text));
        try
        {
            using var client = Client(options, calls);
            var response = await client.GetResponseAsync(messages, new ChatOptions
            {
                Tools = [.. tools.ForModel()],
                ToolMode = ChatToolMode.Auto,
            }, linked.Token);
            if (calls.Count > copilot.Value.MaxSteps || response.Messages.LastOrDefault()?.Contents.OfType<Microsoft.Extensions.AI.FunctionCallContent>().Any() == true
                || string.IsNullOrWhiteSpace(response.Text))
            {
                await RecordStepLimitAsync(cancellationToken);
                return new PlannerAnswer("That needed more steps than I'm allowed for one answer, so I stopped. Try asking for one thing at a time.");
            }
            return new PlannerAnswer(response.Text.Trim(), Clarification(text));
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("The LLM did not answer within {Seconds} s", copilot.Value.TimeoutSeconds);
            await RecordFailureAsync(LlmOutcome.Timeout, $"no answer within {copilot.Value.TimeoutSeconds} s", CancellationToken.None);
            return new PlannerAnswer("Sorry — the AI service took too long to answer, so I stopped waiting. Please try again in a moment.");
        }
        catch (Exception e) when (e is ClientResultException or HttpRequestException or System.Text.Json.JsonException or InvalidOperationException)
        {
            logger.LogWarning(e, "The LLM endpoint failed");
            await RecordFailureAsync(LlmOutcome.Error, e is ClientResultException c ? $"HTTP {c.Status}" : e.GetType().Name, CancellationToken.None);
            return new PlannerAnswer("Sorry — the AI service isn't answering properly right now. Please try again in a moment; " +
                                     "`/sixty help` lists what I can do meanwhile.");
        }
    }

    IChatClient Client(LlmOptions options, List<LlmOutcome> calls)
    {
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = new Uri(options.BaseUrl.TrimEnd('/') + "/"),
            // One honest failure beats a rep waiting through the SDK's retries; the step timeout bounds the whole answer.
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            // Longer than the answer's own timeout, so that one (with its honest message) is what fires.
            NetworkTimeout = copilot.Value.Timeout + TimeSpan.FromSeconds(5),
        };
        // Every request body (the rep's words, history, tool results) loses card numbers on its way out, whatever path built it.
        clientOptions.AddPolicy(Privacy.CardNumberRedactingPolicy.Instance, PipelinePosition.PerCall);
        var openAi = new OpenAIClient(new ApiKeyCredential(options.ApiKey!), clientOptions);
        return openAi.GetChatClient(options.Model).AsIChatClient().AsBuilder()
            .UseFunctionInvocation(configure: f => f.MaximumIterationsPerRequest = copilot.Value.MaxSteps)
            .Use(inner => new RecordingChatClient(inner, this, calls))
            .Build();
    }

    /// <summary>After the loop: if the last resolve_entity said "ambiguous", the rep gets buttons to answer the model's question with.</summary>
    Clarification? Clarification(string text)
    {
        var last = session.ToolOutputs.Select(o => JsonNode.Parse(o) as JsonObject).LastOrDefault(o => o?["status"] is not null && o["candidates"] is not null);
        if (last is null || (string?)last["status"] != "ambiguous") return null;
        var candidates = System.Text.Json.JsonSerializer.Deserialize<List<EntityCandidate>>(last["candidates"]!.ToJsonString(), CopilotActions.Json)!;
        var good = EntityResolver.Good(candidates);
        return good.Count > 1 ? new Clarification($"Which {last["query"]} do you mean?", (string?)last["query"] ?? "", good[0].Type, good) : null;
    }

    async Task RecordAsync(LlmOutcome outcome, TimeSpan latency, UsageDetails? usage, string? error, CancellationToken cancellationToken)
    {
        var (inputPrice, outputPrice) = llm.Value.Price;
        var input = (int)(usage?.InputTokenCount ?? 0);
        var output = (int)(usage?.OutputTokenCount ?? 0);
        var cost = Math.Round((input * inputPrice + output * outputPrice) / 1_000_000m, 6);
        db.LlmCalls.Add(new LlmCall
        {
            OrgId = session.OrgId, UserId = session.User.Id, ConversationId = session.ConversationId, Model = llm.Value.Model,
            LatencyMs = (int)latency.TotalMilliseconds, InputTokens = input, OutputTokens = output, EstimatedCostUsd = cost, Outcome = outcome, Error = error,
            CreatedAt = clock.GetUtcNow(),
        });
        await db.SaveChangesAsync(cancellationToken);
        await limits.RecordAsync(input, output, cost, cancellationToken);
        logger.LogInformation("LLM call to {Model}: {Outcome} in {Latency} ms, {Input} in / {Output} out tokens, ~${Cost}", llm.Value.Model, outcome,
            (int)latency.TotalMilliseconds, input, output, cost);
    }

    Task RecordFailureAsync(LlmOutcome outcome, string error, CancellationToken cancellationToken) =>
        RecordAsync(outcome, TimeSpan.Zero, null, error, cancellationToken);

    Task RecordStepLimitAsync(CancellationToken cancellationToken) =>
        RecordAsync(LlmOutcome.StepLimit, TimeSpan.Zero, null, $"stopped after {copilot.Value.MaxSteps} steps", cancellationToken);

    /// <summary>Sits under the function-invocation loop, so it sees (and records) each call to the model.</summary>
    sealed class RecordingChatClient(IChatClient inner, LlmPlanner planner, List<LlmOutcome> calls) : DelegatingChatClient(inner)
    {
        public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            var started = Stopwatch.GetTimestamp();
            var response = await base.GetResponseAsync(messages, options, cancellationToken);
            calls.Add(LlmOutcome.Ok);
            await planner.RecordAsync(LlmOutcome.Ok, Stopwatch.GetElapsedTime(started), response.Usage, null, cancellationToken);
            return response;
        }
    }
}
