using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// Google's side, as a real HTTP server on 127.0.0.1: the OAuth token and revoke endpoints, and the Calendar API's events
/// list with paging, sync tokens (and their expiry, 410), cancelled events as tombstones, and scriptable failures. Each
/// Google account has its own calendar.
/// </summary>
public sealed class FakeGoogle : IAsyncDisposable
{
    public const string ClientId = "test-client.apps.googleusercontent.com", ClientSecret = "fake-google-client-secret";

    public sealed record Failure(int Status, string? RetryAfter = null, string? Reason = null);

    public sealed class Account(string email)
    {
        public string Email { get; } = email;
        public string RefreshToken { get; } = "1//refresh-" + Guid.NewGuid().ToString("N");
        internal readonly Dictionary<string, (JsonObject Event, long Version)> Events = [];
        internal bool SyncTokensExpired;
        internal readonly ConcurrentQueue<Failure> Failures = new();
        public ConcurrentQueue<IReadOnlyDictionary<string, string>> EventRequests { get; } = new();
        public int? PageSize { get; set; }

        /// <summary>While set, a request for this account's events waits for it: a sync that is still running.</summary>
        public TaskCompletionSource? Hold { get; set; }
    }

    readonly WebApplication app;
    readonly ConcurrentDictionary<string, Account> codes = new(), refreshTokens = new(), accessTokens = new();
    readonly ConcurrentDictionary<string, (string Token, string SyncToken)> pages = new();
    long version;

    public ConcurrentQueue<IReadOnlyDictionary<string, string>> TokenRequests { get; } = new();
    public ConcurrentQueue<string> Revoked { get; } = new();
    public Uri BaseAddress { get; private set; } = null!;
    public string AuthUrl => new Uri(BaseAddress, "o/oauth2/v2/auth").ToString();
    public string TokenUrl => new Uri(BaseAddress, "token").ToString();

    FakeGoogle()
    {
        app = LoopbackServer.Create();
        app.MapPost("/token", TokenAsync);
        app.MapPost("/revoke", async (HttpRequest request) =>
        {
            // Google.Apis sends the token in the query string; others post it as a form.
            var token = request.Query["token"].ToString() is { Length: > 0 } inQuery ? inQuery : request.HasFormContentType ? (await request.ReadFormAsync())["token"].ToString() : "";
            Revoked.Enqueue(token);
            refreshTokens.TryRemove(token, out _);
            return Results.Ok();
        });
        app.MapGet("/calendar/v3/calendars/primary", (HttpRequest request) =>
            AccountOf(request) is { } account ? Results.Json(new JsonObject { ["id"] = account.Email, ["timeZone"] = "America/New_York" }) : Unauthorized());
        app.MapGet("/calendar/v3/calendars/{calendarId}/events", Events);
    }

    public static async Task<FakeGoogle> StartAsync()
    {
        var fake = new FakeGoogle();
        fake.BaseAddress = await LoopbackServer.StartAsync(fake.app);
        return fake;
    }

    /// <summary>The app's settings that point it at this fake.</summary>
    public IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Google:ClientId"] = ClientId, ["Google:ClientSecret"] = ClientSecret,
        ["Google:AuthUrl"] = AuthUrl, ["Google:TokenUrl"] = TokenUrl, ["Google:ApiUrl"] = BaseAddress.ToString(),
    };

    public Account NewAccount(string email) => new(email);

    /// <summary>What Google's consent screen gives the browser for <paramref name="account"/>: a one-time code.</summary>
    public string IssueCode(Account account)
    {
        var code = "4/code-" + Guid.NewGuid().ToString("N");
        codes[code] = account;
        return code;
    }

    public void RevokeGrant(Account account) => refreshTokens.TryRemove(account.RefreshToken, out _);

    public void Fail(Account account, Failure failure) => account.Failures.Enqueue(failure);

    /// <summary>Every sync token issued so far for the account now answers 410 Gone.</summary>
    public void ExpireSyncTokens(Account account)
    {
        lock (account) account.SyncTokensExpired = true;
    }

    /// <summary>Creates or changes a timed event (UTC times); returns its id.</summary>
    public string Put(Account account, string id, string summary, DateTimeOffset start, TimeSpan length, params string[] otherAttendees) =>
        Put(account, new JsonObject
        {
            ["id"] = id, ["status"] = "confirmed", ["summary"] = summary,
            ["start"] = new JsonObject { ["dateTime"] = start.ToString("yyyy-MM-dd'T'HH:mm:ssK", CultureInfo.InvariantCulture), ["timeZone"] = "UTC" },
            ["end"] = new JsonObject { ["dateTime"] = (start + length).ToString("yyyy-MM-dd'T'HH:mm:ssK", CultureInfo.InvariantCulture), ["timeZone"] = "UTC" },
            ["attendees"] = new JsonArray([new JsonObject { ["email"] = account.Email, ["self"] = true, ["responseStatus"] = "accepted" },
                .. otherAttendees.Select(email => (JsonNode)new JsonObject { ["email"] = email, ["displayName"] = email.Split('@')[0], ["responseStatus"] = "needsAction" })]),
        });

    public string Put(Account account, JsonObject calendarEvent)
    {
        lock (account) account.Events[calendarEvent["id"]!.GetValue<string>()] = (calendarEvent, Interlocked.Increment(ref version));
        return calendarEvent["id"]!.GetValue<string>();
    }

    public JsonObject Get(Account account, string id)
    {
        lock (account) return (JsonObject)account.Events[id].Event.DeepClone();
    }

    /// <summary>Cancels an event the way Google does: it stays, as a tombstone with status "cancelled".</summary>
    public void Cancel(Account account, string id)
    {
        var cancelled = Get(account, id);
        cancelled["status"] = "cancelled";
        Put(account, cancelled);
    }

    /// <summary>Deletes an event leaving no trace (what an incremental sync would miss after its token expired).</summary>
    public void Purge(Account account, string id)
    {
        lock (account) account.Events.Remove(id);
    }

    async Task<IResult> TokenAsync(HttpRequest request)
    {
        var form = (await request.ReadFormAsync()).ToDictionary(f => f.Key, f => f.Value.ToString());
        TokenRequests.Enqueue(form);
        if (form.GetValueOrDefault("client_id") != ClientId || form.GetValueOrDefault("client_secret") != ClientSecret)
            return Results.Json(new JsonObject { ["error"] = "invalid_client" }, statusCode: 401);
        Account? account;
        var refresh = false;
        switch (form.GetValueOrDefault("grant_type"))
        {
            case "authorization_code" when codes.TryRemove(form.GetValueOrDefault("code") ?? "", out account):
                refreshTokens[account.RefreshToken] = account;
                break;
            case "refresh_token" when refreshTokens.TryGetValue(form.GetValueOrDefault("refresh_token") ?? "", out account):
                refresh = true;
                break;
            default:
                return Results.Json(new JsonObject { ["error"] = "invalid_grant", ["error_description"] = "Bad Request" }, statusCode: 400);
        }
        var access = "ya29.access-" + Guid.NewGuid().ToString("N");
        accessTokens[access] = account;
        var body = new JsonObject { ["access_token"] = access, ["expires_in"] = 3599, ["token_type"] = "Bearer", ["scope"] = "https://www.googleapis.com/auth/calendar.readonly" };
        if (!refresh) body["refresh_token"] = account.RefreshToken;
        return Results.Json(body);
    }

    Account? AccountOf(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal) && accessTokens.TryGetValue(header["Bearer ".Length..], out var account) ? account : null;
    }

    static IResult Unauthorized() => Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = 401, ["message"] = "Invalid Credentials" } }, statusCode: 401);

    async Task<IResult> Events(HttpRequest request, HttpResponse response, string calendarId)
    {
        if (AccountOf(request) is not { } account) return Unauthorized();
        var query = request.Query.ToDictionary(q => q.Key, q => q.Value.ToString());
        account.EventRequests.Enqueue(query);
        if (account.Hold is { } hold) await hold.Task;
        if (account.Failures.TryDequeue(out var failure))
        {
            if (failure.RetryAfter is not null) response.Headers.RetryAfter = failure.RetryAfter;
            return Results.Json(new JsonObject
            {
                ["error"] = new JsonObject
                {
                    ["code"] = failure.Status, ["message"] = "scripted",
                    ["errors"] = new JsonArray(new JsonObject { ["reason"] = failure.Reason ?? "backendError" }),
                },
            }, statusCode: failure.Status);
        }
        if (calendarId != "primary" || query.GetValueOrDefault("singleEvents") != "true")
            return Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = 400, ["message"] = "use60 must ask for single events of primary" } }, statusCode: 400);

        List<JsonObject> items;
        string syncToken;
        if (query.TryGetValue("pageToken", out var pageToken))
        {
            if (!pages.TryRemove(pageToken, out var page)) return Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = 400 } }, statusCode: 400);
            return Page(page.Token, page.SyncToken);
        }
        lock (account)
        {
            if (query.TryGetValue("syncToken", out var since))
            {
                if (query.ContainsKey("timeMin")) return Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = 400, ["message"] = "timeMin with syncToken" } }, statusCode: 400);
                if (account.SyncTokensExpired) return Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = 410, ["message"] = "Sync token is no longer valid" } }, statusCode: 410);
                var after = long.Parse(since[1..], CultureInfo.InvariantCulture);
                items = [.. account.Events.Values.Where(e => e.Version > after).OrderBy(e => e.Version).Select(e => (JsonObject)e.Event.DeepClone())];
            }
            else
            {
                var timeMin = DateTimeOffset.Parse(query["timeMin"], CultureInfo.InvariantCulture);
                items = [.. account.Events.Values.OrderBy(e => e.Version).Select(e => e.Event)
                    .Where(e => e["status"]?.GetValue<string>() != "cancelled")
                    .Where(e => e["end"]?["dateTime"] is null || DateTimeOffset.Parse(e["end"]!["dateTime"]!.GetValue<string>(), CultureInfo.InvariantCulture) >= timeMin)
                    .Select(e => (JsonObject)e.DeepClone())];
                account.SyncTokensExpired = false;
            }
            syncToken = "v" + Interlocked.Read(ref version).ToString(CultureInfo.InvariantCulture);
        }
        var size = account.PageSize ?? int.Parse(query.GetValueOrDefault("maxResults") ?? "250", CultureInfo.InvariantCulture);
        var token = Guid.NewGuid().ToString("N");
        remaining[token] = (items, size);
        return Page(token, syncToken);
    }

    readonly ConcurrentDictionary<string, (List<JsonObject> Items, int Size)> remaining = new();

    IResult Page(string token, string syncToken)
    {
        var (items, size) = remaining[token];
        var body = new JsonObject { ["kind"] = "calendar#events", ["items"] = new JsonArray([.. items.Take(size)]) };
        if (items.Count > size)
        {
            remaining[token] = ([.. items.Skip(size)], size);
            var next = Guid.NewGuid().ToString("N");
            pages[next] = (token, syncToken);
            body["nextPageToken"] = next;
        }
        else
        {
            remaining.TryRemove(token, out _);
            body["nextSyncToken"] = syncToken;
        }
        return Results.Json(body);
    }

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
