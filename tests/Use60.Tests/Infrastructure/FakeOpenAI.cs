using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// An OpenAI-compatible chat completions endpoint on 127.0.0.1 that answers from a script: each request is handed
/// to the next scripted turn (or the standing one), which sees the whole request, tool results included.
/// </summary>
public sealed class FakeOpenAI : IAsyncDisposable
{
    public sealed record Turn(Func<JsonObject, JsonObject?> Answer, int Status = 200, TimeSpan Delay = default)
    {
        /// <summary>A delay chosen per request (e.g. slow for one rep only); overrides <see cref="Delay"/>.</summary>
        public Func<JsonObject, TimeSpan>? DelayFor { get; init; }
    }

    readonly WebApplication app;
    readonly ConcurrentQueue<Turn> script = new();
    Turn? standing;
    int nextId;

    public ConcurrentQueue<JsonObject> Requests { get; } = new();
    public ConcurrentQueue<string> ScriptFailures { get; } = new();
    public Uri BaseAddress { get; private set; } = null!;
    public string BaseUrl => new Uri(BaseAddress, "v1").ToString();

    FakeOpenAI(WebApplication app) => this.app = app;

    public static async Task<FakeOpenAI> StartAsync()
    {
        var app = LoopbackServer.Create();
        var fake = new FakeOpenAI(app);
        app.MapPost("/v1/chat/completions", fake.HandleAsync);
        fake.BaseAddress = await LoopbackServer.StartAsync(app);
        return fake;
    }

    /// <summary>The next requests get these turns, in order; after them, the standing turn (or an error).</summary>
    public void Then(params Turn[] turns)
    {
        foreach (var turn in turns) script.Enqueue(turn);
    }

    /// <summary>Every request once the script is used up, e.g. a model that never stops calling tools.</summary>
    public void Always(Turn turn) => standing = turn;

    public void Reset()
    {
        script.Clear();
        standing = null;
        Requests.Clear();
        ScriptFailures.Clear();
    }

    public static Turn ToolCall(string name, JsonObject arguments) => new(_ => Message(new JsonObject
    {
        ["role"] = "assistant", ["content"] = null,
        ["tool_calls"] = new JsonArray(new JsonObject
        {
            ["id"] = "call_" + Guid.NewGuid().ToString("N")[..8], ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = name, ["arguments"] = arguments.ToJsonString() },
        }),
    }, "tool_calls"));

    public static Turn Text(string content) => Reply(_ => content);

    /// <summary>A text answer written from the request (e.g. from the tool results it carries).</summary>
    public static Turn Reply(Func<JsonObject, string> content) => new(request => Message(new JsonObject { ["role"] = "assistant", ["content"] = content(request) }, "stop"));

    /// <summary>What the rep said last, as the model sees it.</summary>
    public static string LastUserText(JsonObject request) =>
        request["messages"]!.AsArray().OfType<JsonObject>().Last(m => (string?)m["role"] == "user")["content"] switch
        {
            JsonArray parts => string.Concat(parts.OfType<JsonObject>().Select(p => (string?)p["text"])),
            JsonNode text => (string?)text ?? "",
            null => "",
        };

    public static Turn Error(int status) => new(_ => new JsonObject { ["error"] = new JsonObject { ["message"] = "scripted failure", ["type"] = "server_error" } }, status);

    /// <summary>The results of the tool calls the request carries, newest last, parsed.</summary>
    public static IReadOnlyList<JsonObject> ToolResults(JsonObject request) =>
        [.. request["messages"]!.AsArray().OfType<JsonObject>().Where(m => (string?)m["role"] == "tool")
            .Select(m => JsonNode.Parse((string)m["content"]!) as JsonObject).OfType<JsonObject>()];

    static JsonObject Message(JsonObject message, string finish) => new()
    {
        ["object"] = "chat.completion", ["created"] = 1_700_000_000, ["model"] = "fake-model",
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = finish }),
        ["usage"] = new JsonObject { ["prompt_tokens"] = 1000, ["completion_tokens"] = 50, ["total_tokens"] = 1050 },
    };

    async Task<IResult> HandleAsync(HttpRequest request)
    {
        var body = (await JsonNode.ParseAsync(request.Body))!.AsObject();
        Requests.Enqueue(body);
        var turn = script.TryDequeue(out var next) ? next : standing;
        if (turn is null) return Results.Json(new JsonObject { ["error"] = new JsonObject { ["message"] = "no scripted turn" } }, statusCode: 500);
        var delay = turn.DelayFor?.Invoke(body) ?? turn.Delay;
        if (delay > TimeSpan.Zero) await Task.Delay(delay, request.HttpContext.RequestAborted);
        JsonObject? answer;
        try
        {
            answer = turn.Answer(body);
        }
        catch (Exception e)
        {
            // A script that cannot read the request is a test bug: say so in the failure, not as a mystery 500.
            ScriptFailures.Enqueue(e.ToString());
            return Results.Json(new JsonObject { ["error"] = new JsonObject { ["message"] = "the scripted turn threw: " + e.Message } }, statusCode: 500);
        }
        if (answer is not null && answer["id"] is null && answer["choices"] is not null) answer["id"] = $"chatcmpl-{Interlocked.Increment(ref nextId)}";
        return Results.Json(answer, statusCode: turn.Status);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
