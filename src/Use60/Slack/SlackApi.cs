using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace Use60.Slack;

/// <summary>How a failed Slack call should be treated by whoever retries it.</summary>
public enum SlackFailure { Permanent, Transient, RateLimited }

/// <summary>A Slack Web API call that did not succeed: Slack's error code (channel_not_found, ratelimited, …).</summary>
public sealed class SlackApiException(string method, string error, SlackFailure failure, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception($"Slack {method} failed: {error}", inner)
{
    public string Method { get; } = method;
    public string Error { get; } = error;
    public SlackFailure Failure { get; } = failure;
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>The token is dead: the workspace uninstalled the app or revoked it.</summary>
    public bool IsAuthFailure => Error is "invalid_auth" or "account_inactive" or "token_revoked" or "not_authed" or "token_expired";

    // Slack's documented transient errors; every other error code describes the request itself and would fail again.
    static readonly HashSet<string> TransientErrors = ["internal_error", "fatal_error", "service_unavailable", "request_timeout"];

    public static SlackFailure Classify(string error) => TransientErrors.Contains(error) ? SlackFailure.Transient : SlackFailure.Permanent;
}

/// <summary>Where Web API calls go: Slack over HTTPS, or the local sandbox when no Slack is configured.</summary>
public interface ISlackTransport
{
    /// <summary>Calls a Web API method; returns Slack's JSON answer (ok or not), or throws for HTTP-level failures.</summary>
    Task<JsonObject> CallAsync(string method, IReadOnlyDictionary<string, string> arguments, string? token, CancellationToken cancellationToken);

    /// <summary>Posts a message to a response_url Slack gave with a command or an interaction.</summary>
    Task PostToResponseUrlAsync(string responseUrl, JsonObject body, CancellationToken cancellationToken);
}

/// <summary>Slack itself, at SLACK_API_URL. Arguments go form-encoded (every method accepts that; some refuse JSON).</summary>
public sealed class HttpSlackTransport(HttpClient http, IOptions<SlackOptions> options) : ISlackTransport
{
    public async Task<JsonObject> CallAsync(string method, IReadOnlyDictionary<string, string> arguments, string? token,
        CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(options.Value.ApiUrl), method));
        request.Content = new FormUrlEncodedContent(arguments);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await SendAsync(method, request, cancellationToken);
    }

    public async Task PostToResponseUrlAsync(string responseUrl, JsonObject body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, responseUrl);
        request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        // A response_url answers "ok" as text, or a JSON error; only the status code says much.
        using var response = await SendRawAsync("response_url", request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new SlackApiException("response_url", "expired_url", SlackFailure.Permanent);
        if (!response.IsSuccessStatusCode)
            throw new SlackApiException("response_url", $"http_{(int)response.StatusCode}", Failed(response.StatusCode));
    }

    async Task<JsonObject> SendAsync(string method, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(method, request, cancellationToken);
        if (!response.IsSuccessStatusCode) throw new SlackApiException(method, $"http_{(int)response.StatusCode}", Failed(response.StatusCode));
        try
        {
            return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) as JsonObject
                   ?? throw new SlackApiException(method, "invalid_response", SlackFailure.Transient);
        }
        catch (JsonException e)
        {
            throw new SlackApiException(method, "invalid_response", SlackFailure.Transient, inner: e);
        }
    }

    async Task<HttpResponseMessage> SendRawAsync(string method, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new SlackApiException(method, "network_error", SlackFailure.Transient, inner: e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SlackApiException(method, "timeout", SlackFailure.Transient, inner: e);
        }
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            var retryAfter = response.Headers.RetryAfter?.Delta
                             ?? (response.Headers.TryGetValues("Retry-After", out var values)
                                 && int.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var s)
                                 ? TimeSpan.FromSeconds(s) : TimeSpan.FromSeconds(30));
            response.Dispose();
            throw new SlackApiException(method, "ratelimited", SlackFailure.RateLimited, retryAfter);
        }
        return response;
    }

    static SlackFailure Failed(HttpStatusCode status) =>
        (int)status >= 500 || status == HttpStatusCode.RequestTimeout ? SlackFailure.Transient : SlackFailure.Permanent;
}

public sealed record SlackUserInfo(string Id, string Name, string? Email, string? TimeZone, bool IsBot, bool Deleted);

public sealed record SlackAuth(string TeamId, string Team, string UserId, string? BotId);

public sealed record SlackOAuthAccess(string TeamId, string TeamName, string BotToken, string? BotUserId, string Scopes, string? InstallerUserId);

/// <summary>The typed Web API client: the methods the product uses, each checked for ok.</summary>
public sealed class SlackApi(ISlackTransport transport, IOptions<SlackOptions> options)
{
    public async Task<(string Channel, string Ts)> PostMessageAsync(string token, string channel, JsonObject message, string? threadTs,
        CancellationToken cancellationToken)
    {
        var arguments = MessageArguments(channel, message);
        if (threadTs is not null) arguments["thread_ts"] = threadTs;
        var answer = await CallAsync("chat.postMessage", arguments, token, cancellationToken);
        return (answer["channel"]!.GetValue<string>(), answer["ts"]!.GetValue<string>());
    }

    public async Task PostEphemeralAsync(string token, string channel, string user, JsonObject message, CancellationToken cancellationToken)
    {
        var arguments = MessageArguments(channel, message);
        arguments["user"] = user;
        await CallAsync("chat.postEphemeral", arguments, token, cancellationToken);
    }

    public Task UpdateAsync(string token, string channel, string ts, JsonObject message, CancellationToken cancellationToken)
    {
        var arguments = MessageArguments(channel, message);
        arguments["ts"] = ts;
        return CallAsync("chat.update", arguments, token, cancellationToken);
    }

    /// <summary>The id of the bot's DM channel with <paramref name="slackUserId"/>.</summary>
    public async Task<string> OpenDmAsync(string token, string slackUserId, CancellationToken cancellationToken)
    {
        var answer = await CallAsync("conversations.open", new() { ["users"] = slackUserId }, token, cancellationToken);
        return answer["channel"]!["id"]!.GetValue<string>();
    }

    public async Task<SlackUserInfo> UserInfoAsync(string token, string slackUserId, CancellationToken cancellationToken) =>
        ReadUser((await CallAsync("users.info", new() { ["user"] = slackUserId }, token, cancellationToken))["user"]!);

    public async Task<SlackUserInfo> LookupByEmailAsync(string token, string email, CancellationToken cancellationToken) =>
        ReadUser((await CallAsync("users.lookupByEmail", new() { ["email"] = email }, token, cancellationToken))["user"]!);

    public async Task<string> OpenViewAsync(string token, string triggerId, SlackView view, CancellationToken cancellationToken)
    {
        var answer = await CallAsync("views.open",
            new() { ["trigger_id"] = triggerId, ["view"] = BlockKitLimits.Fit(view).ToJson().ToJsonString() }, token, cancellationToken);
        return answer["view"]!["id"]!.GetValue<string>();
    }

    public Task UpdateViewAsync(string token, string viewId, SlackView view, CancellationToken cancellationToken) =>
        CallAsync("views.update", new() { ["view_id"] = viewId, ["view"] = BlockKitLimits.Fit(view).ToJson().ToJsonString() }, token, cancellationToken);

    public Task PublishHomeAsync(string token, string slackUserId, SlackView home, CancellationToken cancellationToken) =>
        CallAsync("views.publish", new() { ["user_id"] = slackUserId, ["view"] = BlockKitLimits.Fit(home).ToJson().ToJsonString() }, token,
            cancellationToken);

    public async Task<SlackAuth> AuthTestAsync(string token, CancellationToken cancellationToken)
    {
        var answer = await CallAsync("auth.test", new(), token, cancellationToken);
        return new SlackAuth(answer["team_id"]!.GetValue<string>(), answer["team"]?.GetValue<string>() ?? "Slack workspace",
            answer["user_id"]!.GetValue<string>(), answer["bot_id"]?.GetValue<string>());
    }

    /// <summary>Exchanges an OAuth code for the workspace's bot token (OAuth v2).</summary>
    public async Task<SlackOAuthAccess> OAuthAccessAsync(string code, string redirectUri, CancellationToken cancellationToken)
    {
        var answer = await CallAsync("oauth.v2.access", new()
        {
            ["code"] = code,
            ["redirect_uri"] = redirectUri,
            ["client_id"] = options.Value.ClientId!,
            ["client_secret"] = options.Value.ClientSecret!,
        }, token: null, cancellationToken);
        return new SlackOAuthAccess(answer["team"]!["id"]!.GetValue<string>(), answer["team"]!["name"]?.GetValue<string>() ?? "Slack workspace",
            answer["access_token"]!.GetValue<string>(), answer["bot_user_id"]?.GetValue<string>(), answer["scope"]?.GetValue<string>() ?? "",
            answer["authed_user"]?["id"]?.GetValue<string>());
    }

    /// <summary>A Socket Mode WebSocket URL, opened with the app-level token (xapp-).</summary>
    public async Task<string> OpenSocketAsync(string appToken, CancellationToken cancellationToken) =>
        (await CallAsync("apps.connections.open", new(), appToken, cancellationToken))["url"]!.GetValue<string>();

    public Task PostToResponseUrlAsync(string responseUrl, JsonObject body, CancellationToken cancellationToken) =>
        transport.PostToResponseUrlAsync(responseUrl, body, cancellationToken);

    async Task<JsonObject> CallAsync(string method, Dictionary<string, string> arguments, string? token, CancellationToken cancellationToken)
    {
        var answer = await transport.CallAsync(method, arguments, token, cancellationToken);
        if (answer["ok"]?.GetValue<bool>() == true) return answer;
        var error = answer["error"]?.GetValue<string>() ?? "unknown_error";
        throw new SlackApiException(method, error, SlackApiException.Classify(error));
    }

    /// <summary>A message as SlackMessage.ToJson() (already fitted to Slack's limits) made into call arguments.</summary>
    static Dictionary<string, string> MessageArguments(string channel, JsonObject json)
    {
        var arguments = new Dictionary<string, string> { ["channel"] = channel, ["text"] = json["text"]!.GetValue<string>() };
        if (json["blocks"] is JsonArray blocks) arguments["blocks"] = blocks.ToJsonString();
        return arguments;
    }

    static SlackUserInfo ReadUser(JsonNode user)
    {
        var profile = user["profile"];
        var name = First(profile?["real_name"], profile?["display_name"], user["real_name"], user["name"]) ?? user["id"]!.GetValue<string>();
        return new SlackUserInfo(user["id"]!.GetValue<string>(), name, First(profile?["email"]), First(user["tz"]),
            user["is_bot"]?.GetValue<bool>() == true, user["deleted"]?.GetValue<bool>() == true);
    }

    static string? First(params JsonNode?[] nodes) =>
        nodes.Select(n => n?.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : null).FirstOrDefault(s => !string.IsNullOrWhiteSpace(s));
}
