using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// Slack's side, as a real HTTP server on 127.0.0.1: the Web API (every call recorded; answers scriptable per
/// method), response_urls, and a Socket Mode WebSocket that the test drives.
/// </summary>
public sealed class FakeSlack : IAsyncDisposable
{
    public sealed record Call(string Method, IReadOnlyDictionary<string, string> Args, string? Token, DateTimeOffset At);

    public sealed record Scripted(int Status, JsonObject? Body, string? RetryAfter = null);

    readonly WebApplication app;
    readonly ConcurrentDictionary<string, ConcurrentQueue<Scripted>> scripted = new();
    int nextTs;

    public ConcurrentQueue<Call> Calls { get; } = new();
    public ConcurrentQueue<(string Id, JsonObject Body)> ResponseUrlPosts { get; } = new();
    public ConcurrentQueue<JsonObject> SocketAcks { get; } = new();
    public ConcurrentDictionary<string, JsonObject> Users { get; } = new();
    public string TeamId { get; set; } = "T0FAKE0001";
    public string BotToken { get; set; } = "xoxb-fake-bot-token-0123456789";
    public Uri BaseAddress { get; private set; } = null!;
    public string ApiUrl => new Uri(BaseAddress, "api/").ToString();

    /// <summary>How many Socket Mode connections were accepted, and the one open now.</summary>
    public int SocketConnections => socketConnections;

    int socketConnections;
    WebSocket? socket;
    TaskCompletionSource socketClosed = new();

    FakeSlack()
    {
        app = LoopbackServer.Create();
        app.UseWebSockets();
        app.MapPost("/api/{method}", HandleApiAsync);
        app.MapPost("/respond/{id}", async (string id, HttpRequest request) =>
        {
            ResponseUrlPosts.Enqueue((id, JsonNode.Parse(await new StreamReader(request.Body).ReadToEndAsync())!.AsObject()));
            return Results.Text("ok");
        });
        app.Map("/socket", HandleSocketAsync);
    }

    public static async Task<FakeSlack> StartAsync()
    {
        var fake = new FakeSlack();
        fake.BaseAddress = await LoopbackServer.StartAsync(fake.app);
        return fake;
    }

    public string ResponseUrl(string id) => new Uri(BaseAddress, "respond/" + id).ToString();

    /// <summary>The next call of <paramref name="method"/> gets this answer (then the defaults again).</summary>
    public void Script(string method, Scripted answer) => scripted.GetOrAdd(method, _ => new()).Enqueue(answer);

    public void ScriptError(string method, string error) => Script(method, new Scripted(200, new JsonObject { ["ok"] = false, ["error"] = error }));

    public IReadOnlyList<Call> CallsOf(string method) => [.. Calls.Where(c => c.Method == method)];

    /// <summary>Polls until <paramref name="condition"/> holds (the app works in the background); fails after <paramref name="seconds"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited {seconds} s for: {what}");
            await Task.Delay(50);
        }
    }

    async Task<IResult> HandleApiAsync(string method, HttpRequest request)
    {
        var form = request.HasFormContentType ? await request.ReadFormAsync() : null;
        var args = form?.ToDictionary(f => f.Key, f => f.Value.ToString()) ?? [];
        var token = request.Headers.Authorization.ToString() is { Length: > 7 } auth ? auth["Bearer ".Length..] : null;
        Calls.Enqueue(new Call(method, args, token, DateTimeOffset.UtcNow));
        if (scripted.TryGetValue(method, out var queue) && queue.TryDequeue(out var answer))
        {
            if (answer.RetryAfter is not null) request.HttpContext.Response.Headers.RetryAfter = answer.RetryAfter;
            return answer.Body is null ? Results.StatusCode(answer.Status) : Results.Json(answer.Body, statusCode: answer.Status);
        }
        return Results.Json(Default(method, args));
    }

    JsonObject Default(string method, Dictionary<string, string> args) => method switch
    {
        "chat.postMessage" => Ok(new() { ["channel"] = args.GetValueOrDefault("channel"), ["ts"] = $"1700000000.{Interlocked.Increment(ref nextTs):000000}" }),
        "chat.update" => Ok(new() { ["channel"] = args.GetValueOrDefault("channel"), ["ts"] = args.GetValueOrDefault("ts") }),
        "conversations.open" => Ok(new() { ["channel"] = new JsonObject { ["id"] = "D" + args.GetValueOrDefault("users") } }),
        "users.info" => Ok(new()
        {
            ["user"] = Users.TryGetValue(args.GetValueOrDefault("user") ?? "", out var user) ? user.DeepClone() : new JsonObject
            {
                ["id"] = args.GetValueOrDefault("user"), ["name"] = "pat", ["tz"] = "America/Chicago",
                ["profile"] = new JsonObject { ["real_name"] = "Pat Newcomer", ["email"] = $"{args.GetValueOrDefault("user")?.ToLowerInvariant()}@fake.example" },
            },
        }),
        "auth.test" => Ok(new() { ["team_id"] = TeamId, ["team"] = "Fake Team", ["user_id"] = "U0BOT", ["bot_id"] = "B0BOT" }),
        "oauth.v2.access" => Ok(new()
        {
            ["access_token"] = BotToken, ["token_type"] = "bot", ["scope"] = "chat:write,commands", ["bot_user_id"] = "U0BOT",
            ["team"] = new JsonObject { ["id"] = TeamId, ["name"] = "Fake Team" }, ["authed_user"] = new JsonObject { ["id"] = "U0INSTALLER" },
        }),
        "views.open" or "views.update" => Ok(new() { ["view"] = new JsonObject { ["id"] = "V0FAKE" } }),
        "apps.connections.open" => Ok(new() { ["url"] = new UriBuilder(BaseAddress) { Scheme = "ws", Path = "/socket" }.ToString() }),
        _ => Ok([]),
    };

    static JsonObject Ok(JsonObject fields)
    {
        fields["ok"] = true;
        return fields;
    }

    async Task HandleSocketAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }
        var ws = await context.WebSockets.AcceptWebSocketAsync();
        socketClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        socket = ws;
        Interlocked.Increment(ref socketConnections);
        await SendAsync(new JsonObject { ["type"] = "hello", ["num_connections"] = 1 });
        var buffer = new byte[64 * 1024];
        try
        {
            while (ws.State == WebSocketState.Open)
            {
                var result = await ws.ReceiveAsync(buffer, context.RequestAborted);
                if (result.MessageType == WebSocketMessageType.Close) break;
                SocketAcks.Enqueue(JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, result.Count))!.AsObject());
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        socketClosed.TrySetResult();
    }

    /// <summary>Sends a Socket Mode message to the connected app.</summary>
    public Task SendAsync(JsonObject message) =>
        socket!.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Drops the connection without a goodbye, as a network failure would.</summary>
    public async Task DropSocketAsync()
    {
        socket!.Abort();
        await socketClosed.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            socket?.Abort();
        }
        catch (ObjectDisposedException)
        {
            // The connection's request is over already.
        }
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
