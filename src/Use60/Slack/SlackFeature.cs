using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Use60.Admin;
using Use60.Data;
using Use60.Hosting;
using Use60.Privacy;
using Use60.Security;

namespace Use60.Slack;

public static class SlackFeature
{
    public static IServiceCollection AddSlack(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<SlackOptions>(configuration);
        services.AddSingleton<IValidateOptions<SlackOptions>, SlackNeedsMasterKeyForOAuth>();
        services.AddSingleton<SlackSignature>();
        services.AddSingleton<SlackSigningSecret>();
        services.AddSingleton(sp =>
        {
            var listeners = new SlackListeners();
            foreach (var module in sp.GetServices<SlackListenerModule>()) module.Register(listeners);
            return listeners;
        });
        services.AddHttpClient<HttpSlackTransport>(http => http.Timeout = TimeSpan.FromSeconds(15));
        services.AddSingleton<SandboxSlackTransport>();
        services.AddSingleton<ISlackTransport>(sp => sp.GetRequiredService<IOptions<SlackOptions>>().Value.IsSandbox
            ? sp.GetRequiredService<SandboxSlackTransport>()
            : sp.GetRequiredService<HttpSlackTransport>());
        services.AddSingleton<SlackApi>();
        services.AddSingleton<SlackWorkspaces>();
        services.AddSingleton<SlackOutbox>();
        services.AddSingleton<SlackInbox>();
        services.AddSingleton<SlackReceiver>();
        services.AddScoped<SlackInboxProcessor>();
        services.AddSingleton<SlackInboxWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<SlackInboxWorker>());
        services.AddSingleton<OutboxDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxDispatcher>());
        services.AddHostedService<SocketModeClient>();
        services.AddSingleton<SlackSandbox>();
        services.AddHttpClient("slack-sandbox", http => http.Timeout = TimeSpan.FromSeconds(30));
        services.AddSingleton(new AdminNavItem("Slack sandbox", SlackSandbox.PagePath, 80));
        services.AddSlackListeners(SlackBuiltIns.Register);
        return services;
    }

    /// <summary>/slack/events, /commands, /interactions, /options (signed by Slack), and the OAuth install.</summary>
    public static IEndpointRouteBuilder MapSlack(this IEndpointRouteBuilder app)
    {
        var slack = app.MapGroup("/slack");
        slack.MapPost("/events", (HttpContext http, SlackReceiver receiver) =>
            Signed(http, body => receiver.EventAsync(ParseJson(body), http.RequestAborted)));
        slack.MapPost("/commands", (HttpContext http, SlackReceiver receiver) =>
            Signed(http, body => receiver.CommandAsync(ParseForm(body), http.RequestAborted)));
        slack.MapPost("/interactions", (HttpContext http, SlackReceiver receiver) =>
            Signed(http, body => receiver.InteractionAsync(PayloadField(body), http.RequestAborted)));
        slack.MapPost("/options", (HttpContext http, SlackReceiver receiver) =>
            Signed(http, async body => (JsonObject?)await receiver.OptionsAsync(PayloadField(body), http.RequestAborted)));
        slack.MapGet("/install", SlackInstallPages.StartAsync);
        slack.MapGet("/oauth/callback", SlackInstallPages.CallbackAsync);
        return app;
    }

    /// <summary>Slack's limit on what it sends is far below this; anything bigger is not Slack.</summary>
    public const int MaxBodyBytes = 1 << 20;

    /// <summary>Reads the raw body (bounded), checks Slack's signature before anything else, then runs <paramref name="handle"/>.</summary>
    static async Task<IResult> Signed(HttpContext http, Func<byte[], Task<JsonObject?>> handle)
    {
        var services = http.RequestServices;
        var body = await RequestBodies.ReadBoundedAsync(http.Request, MaxBodyBytes);
        if (body is null) return await RefuseAsync(http, StatusCodes.Status413PayloadTooLarge, "body_too_large");
        var secret = await services.GetRequiredService<SlackSigningSecret>().GetAsync(http.RequestAborted);
        if (secret is null)
        {
            services.GetRequiredService<ILogger<SlackReceiver>>()
                .LogWarning("A request reached {Path}, but SLACK_SIGNING_SECRET is not set (Socket Mode only): refused", http.Request.Path);
            return await RefuseAsync(http, StatusCodes.Status401Unauthorized, "no_signing_secret");
        }
        var check = services.GetRequiredService<SlackSignature>().Verify(secret, http.Request.Headers[SlackSignature.TimestampHeader],
            http.Request.Headers[SlackSignature.SignatureHeader], body);
        if (check != SignatureCheck.Valid)
            return await RefuseAsync(http, StatusCodes.Status401Unauthorized, SnakeCase.Convert(check.ToString()));

        JsonObject? answer;
        try
        {
            answer = await handle(body);
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            services.GetRequiredService<ILogger<SlackReceiver>>().LogWarning("A signed request to {Path} was not understood: {Reason}",
                http.Request.Path, e.Message);
            return Results.BadRequest();
        }
        return answer is null ? Results.Ok() : Results.Json(answer);
    }

    /// <summary>No detail for the caller; the reason goes to the security audit log and the log.</summary>
    static async Task<IResult> RefuseAsync(HttpContext http, int status, string reason)
    {
        var services = http.RequestServices;
        services.GetRequiredService<ILogger<SlackReceiver>>().LogWarning("Refused a request to {Path}: {Reason}", http.Request.Path, reason);
        await using var db = services.GetRequiredService<SystemDb>().Open("audit a refused Slack request");
        services.GetRequiredService<SecurityAudit>().Record(db, AuditEvents.SlackRequestRejected, AuditSeverity.Medium, null, null,
            new { reason, path = http.Request.Path.Value }, http);
        await db.SaveChangesAsync(CancellationToken.None);
        return Results.StatusCode(status);
    }

    static JsonObject ParseJson(byte[] body) => RequestBodies.ParseJsonObject(body);

    /// <summary>A form-encoded body (slash commands) as a JSON object of its fields.</summary>
    public static JsonObject ParseForm(byte[] body)
    {
        var fields = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(body));
        // What is stored must be storable: a NUL or a lone surrogate (%ED%A0%80) is refused here, not by PostgreSQL later.
        foreach (var (key, value) in fields)
        {
            RequestBodies.CheckText(key);
            foreach (var text in value) RequestBodies.CheckText(text ?? "");
        }
        return new JsonObject(fields.Select(f => KeyValuePair.Create(f.Key, (JsonNode?)JsonValue.Create(f.Value.ToString()))));
    }

    /// <summary>Interactions and options come form-encoded, as JSON in the single field "payload".</summary>
    static JsonObject PayloadField(byte[] body) =>
        ParseForm(body)["payload"]?.GetValue<string>() is { } payload ? ParseJson(Encoding.UTF8.GetBytes(payload))
            : throw new FormatException("The body has no payload field.");
}

/// <summary>OAuth installs store bot tokens encrypted: multi-workspace mode needs the master key.</summary>
sealed class SlackNeedsMasterKeyForOAuth(IOptions<MasterKeyOptions> masterKey) : IValidateOptions<SlackOptions>
{
    public ValidateOptionsResult Validate(string? name, SlackOptions options) =>
        !string.IsNullOrWhiteSpace(options.ClientId) && string.IsNullOrWhiteSpace(masterKey.Value.MasterKey)
            ? ValidateOptionsResult.Fail($"USE60_MASTER_KEY is required with SLACK_CLIENT_ID: installed workspaces' bot tokens are stored encrypted with it; {MasterKeyOptions.HowToMakeOne}.")
            : ValidateOptionsResult.Success;
}
