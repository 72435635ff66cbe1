using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Quartz;
using Use60.Copilot;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Recordings;
using Use60.Slack;

namespace Use60.Proactive;

/// <summary>
/// Meeting prep: 2 hours before each real meeting (more than one attendee, not cancelled), a brief built by
/// <c>seq-next-meeting-command-center</c>, with View brief (the full brief in a modal) and Add notes (saved to the meeting).
/// One brief per event and start time: a meeting moved later gets its brief at the new time, a cancelled one gets none, and
/// one created less than 2 hours ahead gets its brief at once. With the notetaker on, a "Don't record" button keeps its bot away.
/// </summary>
public sealed class MeetingBriefs(SystemDb system, IServiceScopeFactory scopes, TimeProvider clock, IOptions<MeetingBaasOptions> notetaker,
    ILogger<MeetingBriefs> logger)
{
    public static readonly TimeSpan Ahead = TimeSpan.FromHours(2);
    public const string ViewAction = "meeting_view_brief", NotesAction = "meeting_add_notes", NotesCallback = "meeting_notes";
    public const string Sequence = "seq-next-meeting-command-center";

    public sealed record DueBrief(Guid OrgId, Guid UserId, Guid EventId, string BriefKey);

    /// <summary>Sends every brief that is due now and not yet sent, one rep's together; returns how many were sent.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken) =>
        await ProactiveRuns.SendEachAsync((await DueAsync(cancellationToken)).GroupBy(brief => brief.UserId).Select(IReadOnlyList<DueBrief> (briefs) => [.. briefs]),
            SendAllAsync, "meeting brief", briefs => $"user {briefs[0].UserId}", logger, cancellationToken);

    /// <summary>Real meetings starting within the next 2 hours whose owner wants briefs and has not had one for this start time.</summary>
    public async Task<IReadOnlyList<DueBrief>> DueAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var until = now + Ahead;
        await using var db = system.Open("find meetings whose brief is due");
        return await db.Database.SqlQuery<DueBrief>($"""
            SELECT e.org_id AS "OrgId", e.user_id AS "UserId", e.id AS "EventId",
                   e.id || ':' || floor(extract(epoch FROM e.start_time))::bigint AS "BriefKey"
            FROM calendar_events e
            JOIN users u ON u.id = e.user_id
            JOIN orgs o ON o.id = e.org_id
            LEFT JOIN user_preferences p ON p.org_id = u.org_id AND p.user_id = u.id
            WHERE e.status <> 'cancelled' AND e.attendees_count >= 2
              AND e.start_time > {now} AND e.start_time <= {until}
              AND u.slack_user_id IS NOT NULL AND o.slack_disabled_at IS NULL
              AND coalesce(p.meeting_briefs, true)
              AND (p.snoozed_until IS NULL OR p.snoozed_until <= {now})
              AND NOT EXISTS (SELECT 1 FROM proactive_deliveries d WHERE d.user_id = u.id AND d.workflow = 'meeting_brief'
                                AND d.entity_key = e.id || ':' || floor(extract(epoch FROM e.start_time))::bigint)
            ORDER BY e.start_time
            """).ToListAsync(cancellationToken);
    }

    public async Task<bool> SendAsync(DueBrief due, CancellationToken cancellationToken) => await SendAllAsync([due], cancellationToken) == 1;

    /// <summary>
    /// One rep's due briefs, in their own tenant scope: one round trip reads everything the command-center sequence will ask for them,
    /// the sequence runs for each, and one more round trip claims and queues them all, with the tool calls' telemetry.
    /// </summary>
    public async Task<int> SendAllAsync(IReadOnlyList<DueBrief> briefs, CancellationToken cancellationToken)
    {
        var (orgId, userId) = (briefs[0].OrgId, briefs[0].UserId);
        await using var scope = scopes.CreateTenantScope(orgId, userId);
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<Use60Db>();
        var reads = new DbBatch(db);
        var rep = reads.User(userId);
        services.GetRequiredService<CopilotActions>().PreloadMeetingBriefs(reads, orgId, [.. briefs.Select(b => b.EventId)]);
        await reads.RunAsync(cancellationToken);

        var telemetry = services.GetRequiredService<ToolTelemetry>();
        telemetry.Hold();
        var deliveries = services.GetRequiredService<ProactiveDeliveries>();
        var writes = new DbBatch(db);
        var queued = new List<DbResult<bool>>();
        foreach (var due in briefs)
        {
            try
            {
                var brief = await BriefAsync(services, rep.Value, due.EventId, cancellationToken);
                if (brief["outputs"]?["meeting"] is not JsonObject meeting) continue;
                var message = Summary(meeting, brief["outputs"]?["deal"] as JsonObject, due.EventId, clock.GetUtcNow(), notetaker.Value.IsConfigured);
                queued.Add(deliveries.Queue(writes, Workflow.MeetingBrief, due.BriefKey,
                    OutboxDraft.Dm(orgId, userId, message, "meeting brief " + due.BriefKey)));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The rep's other briefs still go (with this one's tool telemetry, fault included); this one is due again next run.
                logger.LogError(e, "The meeting brief for event {EventId} failed; it is retried on the next run", due.EventId);
            }
        }
        telemetry.WriteHeld(writes);
        await writes.RunAsync(cancellationToken);
        return queued.Count(sent => sent.Value);
    }

    /// <summary>The full brief: the command-center sequence run for this event, through the copilot's tools.</summary>
    public static async Task<JsonObject> BriefAsync(IServiceProvider services, Orgs.AppUser rep, Guid eventId, CancellationToken cancellationToken)
    {
        services.GetRequiredService<CopilotSession>().Start(rep);
        return await services.GetRequiredService<CopilotTools>().RunSequenceAsync(Sequence, new JsonObject { ["meeting_id"] = eventId.ToString() },
            cancellationToken);
    }

    static SlackMessage Summary(JsonObject meeting, JsonObject? deal, Guid eventId, DateTimeOffset now, bool recordable)
    {
        var start = DateTimeOffset.Parse((string)meeting["start"]!, CultureInfo.InvariantCulture);
        var minutes = Math.Max(1, (int)Math.Round((start - now).TotalMinutes));
        var when = minutes >= 90 ? $"in {Math.Round(minutes / 60.0, 1).ToString(CultureInfo.InvariantCulture)} hours" : $"in {minutes} minutes";
        var people = meeting["attendees"]!.AsArray().OfType<JsonObject>().Where(a => (bool?)a["is_rep"] != true)
            .Select(a => (string?)a["name"] + (a["company"] is null ? "" : $" ({a["company"]})"));
        var title = (string?)meeting["title"] ?? "Meeting";
        var blocks = new List<Block>
        {
            new HeaderBlock($"{title} — {when}"),
            new SectionBlock($"*{meeting["local_start"]}* with {string.Join(", ", people)}" + (meeting["conference_url"] is { } url ? $"\n<{url}|Join the call>" : "")),
        };
        if (deal?["deal"] is JsonObject line)
            blocks.Add(new SectionBlock($"*Deal:* {line["name"]} · {((string?)line["stage"])?.Replace('_', ' ')} · " +
                                        Money.Format((decimal?)line["amount"] ?? 0, (string?)line["currency"] ?? "USD") +
                                        (line["next_step"] is { } next ? $"\n*Next step:* {next}" : "")));
        blocks.Add(new ActionsBlock([
            new ButtonElement("View brief", ViewAction, eventId.ToString(), ButtonStyle.Primary),
            new ButtonElement("Add notes", NotesAction, eventId.ToString()),
            .. recordable ? [NotetakerSlack.DontRecordButton(eventId)] : Array.Empty<BlockElement>(),
        ]) { BlockId = "brief:" + eventId });
        return new SlackMessage($"{title} starts {when}.", blocks);
    }
}

/// <summary>Quartz's handle on the briefs: every minute, on whichever replica the cluster picks.</summary>
[DisallowConcurrentExecution]
public sealed class MeetingBriefJob(MeetingBriefs briefs) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await briefs.RunAsync(cancellationToken);
}

/// <summary>The brief's buttons: the full brief in a modal, and a notes modal whose submission is saved to the meeting.</summary>
static class MeetingBriefButtons
{
    const string NotesBlock = "notes", NotesInput = "notes";

    public static void Register(SlackListeners slack) => slack
        .Action(MeetingBriefs.ViewAction, Engagement.Tracked(ViewAsync))
        .Action(MeetingBriefs.NotesAction, Engagement.Tracked(OpenNotesAsync))
        .ViewSubmission(MeetingBriefs.NotesCallback, SaveNotesAsync);

    static async Task ViewAsync(SlackRequest request)
    {
        if (!Guid.TryParse(request.ActionValue, out var eventId)) return;
        var brief = await MeetingBriefs.BriefAsync(request.Services, request.User, eventId, request.Aborted);
        if (brief["error"] is { } error)
        {
            request.Reply(new SlackMessage($"I can't build that brief: {error}"));
            return;
        }
        var answer = CopilotBlocks.Answer(new CopilotAnswer(0, "Your brief", [brief], [], null));
        await request.OpenModalAsync(SlackView.Modal("Meeting brief", "meeting_brief", [.. answer.Blocks.Skip(1)], close: "Close"));
    }

    static async Task OpenNotesAsync(SlackRequest request)
    {
        if (!Guid.TryParse(request.ActionValue, out var eventId)) return;
        var meeting = await request.Service<Use60Db>().Meetings.AsNoTracking()
            .FirstOrDefaultAsync(m => m.CalendarEventId == eventId && m.OwnerUserId == request.User.Id, request.Aborted);
        await request.OpenModalAsync(SlackView.Modal("Meeting notes", MeetingBriefs.NotesCallback, [
            new InputBlock("Notes", new PlainTextInputElement(NotesInput, meeting?.Notes, "What was agreed, who does what by when", Multiline: true, MaxLength: 3000))
                { BlockId = NotesBlock },
        ], submit: "Save", close: "Cancel", privateMetadata: eventId.ToString()));
    }

    static async Task SaveNotesAsync(SlackRequest request)
    {
        var notes = request.ViewValue(NotesBlock, NotesInput)?.Trim();
        if (string.IsNullOrEmpty(notes))
        {
            request.RejectSubmission(new Dictionary<string, string> { [NotesBlock] = "Write a note, or press Cancel." });
            return;
        }
        if (!Guid.TryParse((string?)request.View?["private_metadata"], out var eventId)) return;
        var db = request.Service<Use60Db>();
        var calendarEvent = await db.CalendarEvents.AsNoTracking().SingleOrDefaultAsync(e => e.Id == eventId && e.UserId == request.User.Id, request.Aborted);
        if (calendarEvent is null)
        {
            request.Reply(new SlackMessage("That meeting is no longer in your calendar, so the notes were not saved."), ReplyTarget.DirectMessage);
            return;
        }
        var meeting = await db.Meetings.FirstOrDefaultAsync(m => m.CalendarEventId == eventId && m.OwnerUserId == request.User.Id, request.Aborted);
        if (meeting is null)
        {
            meeting = new Meeting
            {
                OrgId = request.Org.Id, OwnerUserId = request.User.Id, CalendarEventId = eventId, DealId = calendarEvent.DealId, Title = calendarEvent.Title,
                StartTime = calendarEvent.StartTime, EndTime = calendarEvent.EndTime,
            };
            db.Meetings.Add(meeting);
        }
        meeting.Notes = notes;
        await db.SaveChangesAsync(request.Aborted);
        request.Reply(new SlackMessage($":memo: Notes saved to {calendarEvent.Title}."), ReplyTarget.DirectMessage);
    }
}
