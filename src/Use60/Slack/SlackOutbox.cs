using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Slack;

/// <summary>A message to send, before it is fitted to Slack's limits and stored as outbox rows.</summary>
public sealed record OutboxDraft(Guid OrgId, Guid? UserId, OutboxKind Kind, SlackMessage Message, string Source)
{
    public string? Channel { get; init; }
    public string? ThreadTs { get; init; }
    public string? ResponseUrl { get; init; }
    public DateTimeOffset? ResponseUrlExpiresAt { get; init; }
    public bool InChannel { get; init; }

    /// <summary>A response_url answer that replaces the message the clicked button was in.</summary>
    public bool ReplaceOriginal { get; init; }
    public long? UpdateOf { get; init; }

    /// <summary>To a rep, in their DM with the bot.</summary>
    public static OutboxDraft Dm(Guid orgId, Guid userId, SlackMessage message, string source) =>
        new(orgId, userId, OutboxKind.Post, message, source);

    public static OutboxDraft Post(Guid orgId, Guid? userId, string channel, string? threadTs, SlackMessage message, string source) =>
        new(orgId, userId, OutboxKind.Post, message, source) { Channel = channel, ThreadTs = threadTs };

    /// <summary>Through the response_url of a command or interaction; a DM once Slack would no longer take it.</summary>
    public static OutboxDraft Respond(Guid orgId, Guid userId, string responseUrl, DateTimeOffset expiresAt, SlackMessage message,
        bool inChannel, string source) =>
        new(orgId, userId, OutboxKind.ResponseUrl, message, source) { ResponseUrl = responseUrl, ResponseUrlExpiresAt = expiresAt, InChannel = inChannel };

    /// <summary>Edits the message an earlier row sent (its stored ts).</summary>
    public static OutboxDraft Update(OutboxMessage sent, SlackMessage message, string source) =>
        new(sent.OrgId, sent.UserId, OutboxKind.Update, message, source) { UpdateOf = sent.Id };
}

/// <summary>
/// Puts messages in the outbox. Rows are written with the caller's SaveChangesAsync (in the caller's
/// transaction, so a message exists exactly when the change it announces does); Notify then wakes the dispatcher.
/// </summary>
public sealed class SlackOutbox(TimeProvider clock)
{
    /// <summary>Slack accepts a response_url 5 times within 30 minutes.</summary>
    public static readonly TimeSpan ResponseUrlLifetime = TimeSpan.FromMinutes(30);

    public const int ResponseUrlUses = 5;

    readonly SemaphoreSlim wake = new(0, 1);

    /// <summary>Adds the rows for <paramref name="draft"/> (several when the message is split to fit Slack's limits); the first row is returned.</summary>
    public OutboxMessage Add(Use60Db db, OutboxDraft draft)
    {
        var rows = Rows(draft);
        db.SlackOutbox.AddRange(rows);
        return rows[0];
    }

    /// <summary>The rows for <paramref name="draft"/>, in order: one per part when the message is split to fit Slack's limits.</summary>
    public IReadOnlyList<OutboxMessage> Rows(OutboxDraft draft)
    {
        var parts = BlockKitLimits.Fit(draft.Message);
        // An edit replaces one message; it cannot grow into several.
        if (draft.Kind == OutboxKind.Update) parts = [parts[0]];
        var now = clock.GetUtcNow();
        return [.. parts.Select(part =>
        {
            var json = part.ToJson();
            if (draft.Kind == OutboxKind.ResponseUrl && draft.ReplaceOriginal) json["replace_original"] = true;
            else if (draft.Kind == OutboxKind.ResponseUrl) json["response_type"] = draft.InChannel ? "in_channel" : "ephemeral";
            return new OutboxMessage
            {
                OrgId = draft.OrgId,
                UserId = draft.UserId,
                Kind = draft.Kind,
                Channel = draft.Channel,
                ThreadTs = draft.ThreadTs,
                ResponseUrl = draft.ResponseUrl,
                ResponseUrlExpiresAt = draft.ResponseUrlExpiresAt,
                UpdateOf = draft.UpdateOf,
                Message = json.ToJsonString(),
                SeeMore = JsonSerializer.Serialize(part.SeeMore),
                Source = draft.Source,
                CreatedAt = now,
                NotBefore = now,
            };
        })];
    }

    /// <summary>Adds, saves, and wakes the dispatcher.</summary>
    public async Task<OutboxMessage> SendAsync(Use60Db db, OutboxDraft draft, CancellationToken cancellationToken)
    {
        var row = Add(db, draft);
        await db.SaveChangesAsync(cancellationToken);
        Notify();
        return row;
    }

    public void Notify()
    {
        try
        {
            wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already awake.
        }
    }

    /// <summary>The dispatcher's nap: over after <paramref name="interval"/> or at the next Notify.</summary>
    public async Task WaitAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(interval, clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            await wake.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }
}

/// <summary>
/// Delivers outbox rows. Rows are claimed with FOR UPDATE SKIP LOCKED, so any number of dispatchers (replicas)
/// share the work and none sends a row another has. A 429 holds back only that method, for its Retry-After;
/// transient failures retry with backoff; permanent errors are recorded and not retried. A row whose
/// dispatcher died mid-send is marked failed, not sent again: a duplicate message is the worse mistake.
/// </summary>
public sealed class OutboxDispatcher(SystemDb system, SlackApi api, SlackWorkspaces workspaces, SlackOutbox outbox, TimeProvider clock,
    ILogger<OutboxDispatcher> logger) : BackgroundService
{
    public const int MaxAttempts = 8;
    const int BatchSize = 20;
    static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);
    static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(10);

    readonly ConcurrentDictionary<string, DateTimeOffset> heldBack = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (await DispatchDueAsync(stoppingToken) > 0)
                {
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "The Slack outbox could not be read; trying again shortly");
            }
            await outbox.WaitAsync(PollInterval, stoppingToken);
        }
    }

    /// <summary>Claims and delivers one batch of due rows; returns how many it claimed.</summary>
    public async Task<int> DispatchDueAsync(CancellationToken cancellationToken)
    {
        var rows = await ClaimAsync(cancellationToken);
        // A batch is often one org's messages (a digest to every rep): look its token up once, not per row.
        var tokens = new Dictionary<Guid, string?>();
        // Messages to one conversation go in order: once one is put back for a retry, the batch's later ones to the same place go back
        // with it (RetryLaterAsync holds the conversation's pending ones too), so a retry never lands after its successor.
        var held = new Dictionary<string, DateTimeOffset>();
        for (var i = 0; i < rows.Count; i++)
        {
            try
            {
                if (held.TryGetValue(ConversationOf(rows[i]), out var until))
                    await RecordAsync(rows[i].Id, s => s.SetProperty(m => m.Status, OutboxStatus.Pending).SetProperty(m => m.NotBefore, until)
                        .SetProperty(m => m.LockedUntil, (DateTimeOffset?)null).SetProperty(m => m.Attempts, m => m.Attempts - 1), cancellationToken);
                else if (await DeliverAsync(rows[i], tokens, cancellationToken) is { } retryAt)
                    held[ConversationOf(rows[i])] = retryAt;
            }
            catch (Exception e) when (e is System.Data.Common.DbException or TimeoutException)
            {
                // The database went away before this row was sent (or before its failure was recorded): it and the rest of the
                // batch go back to pending once the database is back, rather than waiting out their lease and counting as interrupted.
                await WhenDatabaseIsBackAsync(() => ReleaseAsync([.. rows.Skip(i).Select(r => r.Id)], cancellationToken), cancellationToken);
                throw;
            }
        }
        return rows.Count;
    }

    async Task ReleaseAsync(long[] ids, CancellationToken cancellationToken)
    {
        await using var db = system.Open("give back unsent Slack outbox rows");
        await db.SlackOutbox.Where(m => ids.Contains(m.Id) && m.Status == OutboxStatus.Sending)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.Status, OutboxStatus.Pending).SetProperty(m => m.LockedUntil, (DateTimeOffset?)null)
                .SetProperty(m => m.Attempts, m => m.Attempts - 1), cancellationToken);
    }

    /// <summary>Retries a bookkeeping write through a database outage, for at most half a lease (then the row counts as interrupted).</summary>
    async Task WhenDatabaseIsBackAsync(Func<Task> write, CancellationToken cancellationToken)
    {
        var deadline = clock.GetUtcNow() + Lease / 2;
        while (true)
        {
            try
            {
                await write();
                return;
            }
            catch (Exception e) when (e is System.Data.Common.DbException or TimeoutException && clock.GetUtcNow() < deadline)
            {
                logger.LogWarning("The Slack outbox could not record a delivery ({Reason}); trying again shortly", e.Message);
                await Task.Delay(PollInterval, clock, cancellationToken);
            }
        }
    }

    async Task<List<OutboxMessage>> ClaimAsync(CancellationToken cancellationToken)
    {
        await using var db = system.Open("claim due Slack outbox rows");
        var now = clock.GetUtcNow();
        var interrupted = await db.SlackOutbox.Where(m => m.Status == OutboxStatus.Sending && m.LockedUntil < now)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.Status, OutboxStatus.Failed)
                .SetProperty(m => m.Error, "interrupted during delivery; not sent again to avoid a duplicate"), cancellationToken);
        if (interrupted > 0) logger.LogWarning("{Count} Slack message(s) were being sent by a dispatcher that stopped; marked failed", interrupted);

        var held = heldBack.Where(h => h.Value > now).Select(h => h.Key).ToArray();
        var heldKinds = Enum.GetValues<OutboxKind>().Where(k => held.Contains(MethodOf(k))).Select(SnakeCase.ValueOf).ToArray();
        var until = now + Lease;
        var claimed = await db.SlackOutbox.FromSql($"""
            UPDATE slack_outbox SET status = 'sending', locked_until = {until}, attempts = attempts + 1
            WHERE id IN (SELECT id FROM slack_outbox
                         WHERE status = 'pending' AND not_before <= {now} AND NOT (kind = ANY ({heldKinds}))
                         ORDER BY id LIMIT {BatchSize}
                         FOR UPDATE SKIP LOCKED)
            RETURNING *
            """).AsNoTracking().ToListAsync(cancellationToken);
        return [.. claimed.OrderBy(m => m.Id)];
    }

    /// <summary>Where a row goes: its channel, its response_url, or its rep's DM.</summary>
    static string ConversationOf(OutboxMessage row) => row.Channel ?? row.ResponseUrl ?? row.UserId?.ToString() ?? "";

    /// <summary>Sends one row and records how it went; returns when it is tried again if it was put back for a retry.</summary>
    async Task<DateTimeOffset?> DeliverAsync(OutboxMessage row, Dictionary<Guid, string?> tokens, CancellationToken cancellationToken)
    {
        try
        {
            var (channel, ts) = await SendAsync(row, tokens, cancellationToken);
            var sentAt = clock.GetUtcNow();
            // Sent: that is recorded even through a database outage, so the row is neither sent again nor marked interrupted.
            try
            {
                await WhenDatabaseIsBackAsync(() => RecordAsync(row.Id, s => s.SetProperty(m => m.Status, OutboxStatus.Sent).SetProperty(m => m.SentAt, sentAt)
                    .SetProperty(m => m.SlackChannel, channel).SetProperty(m => m.SlackTs, ts).SetProperty(m => m.Error, (string?)null), cancellationToken),
                    cancellationToken);
            }
            catch (Exception e) when (e is System.Data.Common.DbException or TimeoutException)
            {
                // Never given back as unsent: it stays "sending" and counts as interrupted, which is not sent again.
                logger.LogError("Slack outbox row {OutboxId} was sent but the database stayed away: {Reason}", row.Id, e.Message);
                return null;
            }
            logger.LogDebug("Sent Slack outbox row {OutboxId} ({Source})", row.Id, row.Source);
            return null;
        }
        catch (SlackApiException e) when (e.Failure == SlackFailure.RateLimited)
        {
            var retryAfter = e.RetryAfter ?? TimeSpan.FromSeconds(30);
            heldBack[e.Method] = clock.GetUtcNow() + retryAfter;
            SlackMetrics.Backoff(e.Method, e.Error, retryAfter);
            logger.LogInformation("Slack rate-limited {Method}; holding it back for {Seconds} s", e.Method, retryAfter.TotalSeconds);
            return await RetryLaterAsync(row, retryAfter, e.Error, countAttempt: false, cancellationToken);
        }
        catch (SlackApiException e) when (e.Failure == SlackFailure.Transient && row.Attempts < MaxAttempts)
        {
            var backoff = TimeSpan.FromSeconds(Math.Min(Math.Pow(2, row.Attempts), MaxBackoff.TotalSeconds));
            SlackMetrics.Backoff(e.Method, e.Error, backoff);
            logger.LogWarning("Slack {Method} failed for outbox row {OutboxId} ({Error}); retry {Attempt} in {Seconds} s",
                e.Method, row.Id, e.Error, row.Attempts, backoff.TotalSeconds);
            return await RetryLaterAsync(row, backoff, e.Error, countAttempt: true, cancellationToken);
        }
        catch (Exception e) when (e is SlackApiException or InvalidOperationException or JsonException or KeyNotFoundException)
        {
            var reason = e is SlackApiException slack ? slack.Error : $"{e.GetType().Name}: {e.Message}";
            logger.LogWarning("Slack outbox row {OutboxId} ({Source}) failed for good: {Reason}", row.Id, row.Source, reason);
            await RecordAsync(row.Id, s => s.SetProperty(m => m.Status, OutboxStatus.Failed).SetProperty(m => m.Error, reason), cancellationToken);
            return null;
        }
    }

    /// <summary>Sends one row; returns the channel and ts of the message it made (null for a response_url post).</summary>
    async Task<(string? Channel, string? Ts)> SendAsync(OutboxMessage row, Dictionary<Guid, string?> tokens, CancellationToken cancellationToken)
    {
        var message = JsonNode.Parse(row.Message)!.AsObject();
        if (row.Kind == OutboxKind.ResponseUrl && await ResponseUrlUsableAsync(row, cancellationToken))
        {
            try
            {
                await api.PostToResponseUrlAsync(row.ResponseUrl!, message, cancellationToken);
                return (null, null);
            }
            catch (SlackApiException e) when (e.Error == "expired_url")
            {
                logger.LogInformation("The response_url of outbox row {OutboxId} has expired; sending it as a DM", row.Id);
            }
        }
        message.Remove("response_type");

        if (!tokens.TryGetValue(row.OrgId, out var token)) tokens[row.OrgId] = token = await workspaces.BotTokenAsync(row.OrgId, cancellationToken);
        if (token is null) throw new SlackApiException(MethodOf(row.Kind), "not_installed", SlackFailure.Permanent);
        switch (row.Kind)
        {
            case OutboxKind.Update:
                var original = await FindAsync(row.UpdateOf!.Value, cancellationToken);
                if (original is { Status: OutboxStatus.Failed }) throw new SlackApiException("chat.update", "original_not_sent", SlackFailure.Permanent);
                if (original?.SlackTs is null) throw new SlackApiException("chat.update", "original_not_sent_yet", SlackFailure.Transient);
                await api.UpdateAsync(token, original.SlackChannel!, original.SlackTs, message, cancellationToken);
                return (original.SlackChannel, original.SlackTs);
            case OutboxKind.Ephemeral:
                await api.PostEphemeralAsync(token, row.Channel!, await SlackUserIdAsync(row, cancellationToken), message, cancellationToken);
                return (row.Channel, null);
            default:
                var channel = row.Channel ?? await api.OpenDmAsync(token, await SlackUserIdAsync(row, cancellationToken), cancellationToken);
                return await api.PostMessageAsync(token, channel, message, row.ThreadTs, cancellationToken);
        }
    }

    async Task<bool> ResponseUrlUsableAsync(OutboxMessage row, CancellationToken cancellationToken)
    {
        if (row.ResponseUrlExpiresAt <= clock.GetUtcNow()) return false;
        await using var db = system.Open("count a response_url's uses");
        var used = await db.SlackOutbox.CountAsync(m => m.ResponseUrl == row.ResponseUrl && m.Status == OutboxStatus.Sent
                                                       && m.Kind == OutboxKind.ResponseUrl && m.SlackTs == null, cancellationToken);
        return used < SlackOutbox.ResponseUrlUses;
    }

    async Task<string> SlackUserIdAsync(OutboxMessage row, CancellationToken cancellationToken)
    {
        await using var db = system.Open("find the Slack user an outbox row is for");
        var slackUserId = await db.Users.Where(u => u.Id == row.UserId && u.OrgId == row.OrgId).Select(u => u.SlackUserId).SingleOrDefaultAsync(cancellationToken);
        return slackUserId ?? throw new SlackApiException("conversations.open", "user_not_in_slack", SlackFailure.Permanent);
    }

    async Task<OutboxMessage?> FindAsync(long id, CancellationToken cancellationToken)
    {
        await using var db = system.Open("read an earlier outbox row");
        return await db.SlackOutbox.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id, cancellationToken);
    }

    /// <summary>
    /// Puts the row back until <paramref name="delay"/> from now, and the pending rows after it to the same conversation no sooner: they
    /// follow it, in order, rather than overtake it. Returns when it is tried again.
    /// </summary>
    async Task<DateTimeOffset> RetryLaterAsync(OutboxMessage row, TimeSpan delay, string error, bool countAttempt, CancellationToken cancellationToken)
    {
        var notBefore = clock.GetUtcNow() + delay;
        var attempts = countAttempt ? row.Attempts : row.Attempts - 1;
        await RecordAsync(row.Id, s => s.SetProperty(m => m.Status, OutboxStatus.Pending).SetProperty(m => m.NotBefore, notBefore)
            .SetProperty(m => m.Attempts, attempts).SetProperty(m => m.LockedUntil, (DateTimeOffset?)null).SetProperty(m => m.Error, error),
            cancellationToken);
        var conversation = ConversationOf(row);
        await using var db = system.Open("hold a Slack conversation's later messages behind a retry");
        await db.Database.ExecuteSqlAsync($"""
            UPDATE slack_outbox SET not_before = {notBefore}
            WHERE status = 'pending' AND id > {row.Id} AND not_before < {notBefore}
              AND coalesce(channel, response_url, user_id::text, '') = {conversation}
            """, cancellationToken);
        return notBefore;
    }

    async Task RecordAsync(long id, Action<Microsoft.EntityFrameworkCore.Query.UpdateSettersBuilder<OutboxMessage>> set, CancellationToken cancellationToken)
    {
        await using var db = system.Open("record a Slack delivery");
        await db.SlackOutbox.Where(m => m.Id == id).ExecuteUpdateAsync(set, cancellationToken);
    }

    static string MethodOf(OutboxKind kind) => kind switch
    {
        OutboxKind.Ephemeral => "chat.postEphemeral",
        OutboxKind.Update => "chat.update",
        OutboxKind.ResponseUrl => "response_url",
        _ => "chat.postMessage",
    };
}

/// <summary>
/// The outbox's retries as metrics (meter "Use60.Slack", readable with dotnet-counters or any OpenTelemetry exporter): how often
/// the dispatcher backs off, and for how long, by Slack method and error.
/// </summary>
public static class SlackMetrics
{
    public const string MeterName = "Use60.Slack";

    static readonly Meter Meter = new(MeterName);

    static readonly Counter<long> Retries = Meter.CreateCounter<long>("use60.slack.outbox.retries", description:
        "Outbox deliveries put back for a later attempt (a transient failure or a 429)");

    static readonly Histogram<double> BackoffSeconds = Meter.CreateHistogram<double>("use60.slack.outbox.backoff", unit: "s", description:
        "How long the dispatcher waits before retrying a delivery");

    public static void Backoff(string method, string error, TimeSpan delay)
    {
        var tags = new TagList { { "method", method }, { "error", error } };
        Retries.Add(1, tags);
        BackoffSeconds.Record(delay.TotalSeconds, tags);
    }
}
