using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Use60.Data;

namespace Use60.Slack;

/// <summary>
/// The durable inbox: every callback is stored before Slack gets its acknowledgement, keyed by its event id
/// (or trigger id), so a retry or a duplicate delivery is recognised by the database, whatever its headers say.
/// </summary>
public sealed class SlackInbox(SystemDb system, SlackInboxWorker worker, TimeProvider clock)
{
    sealed record Accepted(long Id, bool IsNew);

    /// <summary>Stores the callback (once per dedupe key) and hands a new one to the worker. Returns null for a duplicate.</summary>
    public async Task<long?> AcceptAsync(InboxKind kind, string dedupeKey, string? teamId, JsonObject payload, InlineReply? inline,
        CancellationToken cancellationToken)
    {
        // What people type never reaches the database with a card number in it; the handlers read this same redacted payload.
        Privacy.CardNumbers.RedactJson(payload);
        await using var db = system.Open("store a Slack callback in the inbox");
        var kindText = SnakeCase.ValueOf(kind);
        // One round trip before the ack: the batch sets the session's tenant (system) together with the INSERT, where EF would
        // spend a round trip on it first when it opens the connection. It commits (synchronously) before Slack gets its 200.
        var batch = new DbBatch(db);
        var stored = batch.Add<Accepted>($"""
            WITH stored AS (
                INSERT INTO slack_inbox (dedupe_key, kind, team_id, payload, received_at)
                VALUES ({dedupeKey}, {kindText}, {teamId}, {payload.ToJsonString()}::jsonb, {clock.GetUtcNow()})
                ON CONFLICT (dedupe_key) DO UPDATE SET deliveries = slack_inbox.deliveries + 1
                RETURNING id, (xmax = 0) AS is_new)
            SELECT json_build_object('id', id, 'is_new', is_new) FROM stored
            """);
        await batch.RunAsync(cancellationToken);
        var accepted = stored.Value;
        if (!accepted.IsNew) return null;
        worker.Enqueue(accepted.Id, inline);
        return accepted.Id;
    }

    /// <summary>
    /// The inbox-cleanup job's share: callbacks received more than <paramref name="kept"/> ago are deleted (Slack retries within minutes;
    /// a payload holds what people typed). Returns how many.
    /// </summary>
    public async Task<int> DeleteOldAsync(TimeSpan kept, CancellationToken cancellationToken)
    {
        await using var db = system.Open("delete old Slack callbacks");
        return await db.Database.ExecuteSqlAsync($"DELETE FROM slack_inbox WHERE received_at < {clock.GetUtcNow() - kept}", cancellationToken);
    }
}

/// <summary>
/// The answer a callback's HTTP response can still carry. The endpoint waits for it a short while; if the
/// handler is not done by then the endpoint closes the window (a command then shows "working on it") and
/// every reply goes through the outbox instead. Exactly one side wins.
/// </summary>
public sealed class InlineReply
{
    readonly TaskCompletionSource<(bool Answered, JsonObject? Body)> result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int state; // 0 open, 1 taken by the processor, 2 closed by the endpoint

    /// <summary>Processor: claims the window for its answer; false when the endpoint has already answered.</summary>
    public bool TryTake() => Interlocked.CompareExchange(ref state, 1, 0) == 0;

    /// <summary>Processor: the answer (null: an empty 200), once it is stored as handled.</summary>
    public void Complete(JsonObject? body) => result.TrySetResult((true, body));

    /// <summary>Processor: it has no answer to give here (it will be retried, or replies go through the outbox).</summary>
    public void Abandon() => result.TrySetResult((false, null));

    /// <summary>
    /// Endpoint: the processor's answer if it took the window within <paramref name="budget"/>; otherwise closes
    /// the window and returns <paramref name="fallback"/>.
    /// </summary>
    public async Task<JsonObject?> WaitAsync(TimeSpan budget, JsonObject? fallback, TimeProvider clock, CancellationToken cancellationToken)
    {
        try
        {
            await result.Task.WaitAsync(budget, clock, cancellationToken);
        }
        catch (TimeoutException)
        {
        }
        if (Interlocked.CompareExchange(ref state, 2, 0) == 0) return fallback;
        // The processor took the window: its answer is being stored; wait for it.
        var (answered, body) = await result.Task.WaitAsync(cancellationToken);
        return answered ? body : fallback;
    }
}

/// <summary>
/// Runs inbox rows: those the endpoints hand over at once, and, by polling, any whose worker died (an expired
/// lease) or that arrived while this replica was busy. A few run at a time.
/// </summary>
public sealed class SlackInboxWorker(IServiceProvider services, SystemDb system, TimeProvider clock, ILogger<SlackInboxWorker> logger)
    : BackgroundService
{
    public const int Concurrency = 4;
    const int QueueCapacity = 1000, PollBatch = 100;
    static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);

    /// <summary>How soon the poller looks again when it left rows waiting because the queue was full: a backlog drains at working speed.</summary>
    static readonly TimeSpan BacklogPollInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long a row waits before the poller takes it, so it does not race the endpoint's own hand-over.</summary>
    static readonly TimeSpan HandOverGrace = TimeSpan.FromSeconds(10);

    readonly Channel<(long Id, InlineReply? Inline)> queue = Channel.CreateBounded<(long, InlineReply?)>(
        new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Enqueue(long id, InlineReply? inline)
    {
        // A full queue drops nothing that matters: the row is stored, and the poller finds it.
        if (!queue.Writer.TryWrite((id, inline))) inline?.Abandon();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var consumers = Enumerable.Range(0, Concurrency).Select(_ => ConsumeAsync(stoppingToken)).ToList();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var backlog = await PollAsync(stoppingToken);
                await Task.Delay(backlog ? BacklogPollInterval : PollInterval, clock, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Could not look for waiting Slack callbacks; trying again shortly");
                await Task.Delay(PollInterval, clock, CancellationToken.None);
            }
        }
        queue.Writer.TryComplete();
        await Task.WhenAll(consumers);
    }

    async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        await foreach (var (id, inline) in queue.Reader.ReadAllAsync(CancellationToken.None))
        {
            try
            {
                await using var scope = services.CreateAsyncScope();
                // Work already started finishes on shutdown: the reply it owes is due within seconds.
                await scope.ServiceProvider.GetRequiredService<SlackInboxProcessor>().ProcessAsync(id, inline, CancellationToken.None);
            }
            catch (Exception e)
            {
                inline?.Abandon();
                logger.LogWarning(e, "Slack callback {InboxId} could not be processed now; it will be retried", id);
            }
            if (stoppingToken.IsCancellationRequested && queue.Reader.Count == 0) break;
        }
    }

    /// <summary>
    /// Finds rows no worker is on (never handed over, or their worker's lease ran out) and gives up on rows tried too often. Hands over as
    /// many as the queue has room for, so rows dropped by a full queue in a burst drain at the workers' speed, not a batch per poll.
    /// Returns true when rows were left waiting for room.
    /// </summary>
    public async Task<bool> PollAsync(CancellationToken cancellationToken)
    {
        await using var db = system.Open("find Slack callbacks waiting for a worker");
        var now = clock.GetUtcNow();
        var given = await db.SlackInbox
            .Where(i => i.ProcessedAt == null && i.Attempts >= SlackInboxProcessor.MaxAttempts && (i.LockedUntil == null || i.LockedUntil < now))
            .ExecuteUpdateAsync(s => s.SetProperty(i => i.ProcessedAt, now).SetProperty(i => i.Outcome, InboxOutcome.Failed)
                .SetProperty(i => i.Error, "gave up after repeated failures"), cancellationToken);
        if (given > 0) logger.LogError("Gave up on {Count} Slack callback(s) after {Attempts} attempts each", given, SlackInboxProcessor.MaxAttempts);

        // Rows handed over in this sweep are not claimed yet: the sweep goes on after the last id it handed over, not from the start.
        var after = 0L;
        while (true)
        {
            var room = Math.Min(PollBatch, QueueCapacity - queue.Reader.Count);
            if (room <= 0) return true;
            var waiting = await db.SlackInbox
                .Where(i => i.Id > after && i.ProcessedAt == null && (i.LockedUntil == null ? i.ReceivedAt < now - HandOverGrace : i.LockedUntil < now))
                .OrderBy(i => i.Id).Select(i => i.Id).Take(room).ToListAsync(cancellationToken);
            foreach (var id in waiting)
                if (!queue.Writer.TryWrite((id, null))) return true;
            if (waiting.Count < room) return false;
            after = waiting[^1];
        }
    }
}
