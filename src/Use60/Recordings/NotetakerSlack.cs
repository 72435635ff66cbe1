using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Copilot;
using Use60.Data;
using Use60.Proactive;
using Use60.Slack;

namespace Use60.Recordings;

/// <summary>What the notetaker says in Slack.</summary>
public static class NotetakerMessages
{
    /// <summary>The recording was made but could not be kept (copied into the store).</summary>
    public static SlackMessage NotKept(Recording recording, string reason) => Warning(recording, "I couldn't keep the recording of", reason,
        "An owner or admin can try again from the admin site's Recordings page while the provider still has it.");

    public static SlackMessage Failed(Recording recording, string reason) => Warning(recording, "The notetaker couldn't record", reason,
        $"{recording.MeetingUrl} · nothing was recorded. To send it again, type `/sixty record` and the meeting's link.");

    static SlackMessage Warning(Recording recording, string lead, string reason, string context)
    {
        var what = recording.Title is { Length: > 0 } title ? $"*{title}*" : $"your {MeetingLinks.NameOf(recording.Platform)} meeting";
        var text = $":warning: {lead} {what}: {reason}";
        return new SlackMessage(text, [new SectionBlock(text), new ContextBlock([context])]);
    }
}

/// <summary>
/// The notetaker in Slack: <c>/sixty record &lt;link&gt;</c> (a preview, then Confirm sends a bot at once) and the meeting brief's
/// "Don't record" button.
/// </summary>
public static class NotetakerSlack
{
    public const string DontRecordAction = "notetaker_dont_record", PlayAction = "recording_play";

    public static void Register(SlackListeners slack) => slack
        .Command(SlackHelp.Sixty, "record", "sends the notetaker to a meeting now: `/sixty record <Zoom, Google Meet or Teams link>`", RecordAsync)
        .Action(DontRecordAction, Engagement.Tracked(DontRecordAsync))
        .Action(PlayAction, PlayAsync);

    /// <summary>A button that gets the recording's links when clicked (a link put in a message would stop working after 15 minutes).</summary>
    public static ButtonElement PlayButton(Guid recordingId) => new("Watch the recording", PlayAction, recordingId.ToString());

    /// <summary>Fresh 15-minute links, made now and only for whoever may see the recording (row-level security: its rep, the org's admins).</summary>
    static async Task PlayAsync(SlackRequest request)
    {
        var playback = Guid.TryParse(request.ActionValue, out var recordingId)
            ? await request.Service<RecordingLinks>().ForAsync(request.Service<Use60Db>(), recordingId, request.Aborted)
            : null;
        if (playback is null)
        {
            request.Reply(new SlackMessage("That recording isn't one you can see, or it isn't kept yet."), ReplyTarget.DirectMessage);
            return;
        }
        var links = new[] { (playback.Video, "Watch the video"), (playback.Audio, "Listen to the audio") }
            .Where(l => l.Item1 is not null).Select(l => $"<{l.Item1}|{l.Item2}>");
        request.Reply(new SlackMessage($"Here's the recording: {string.Join(" · ", links)}. The links work for {RecordingLinks.Lifetime.TotalMinutes:0} minutes; " +
                                       "click the button again for new ones."), ReplyTarget.DirectMessage);
    }

    /// <summary>The brief's button.</summary>
    public static ButtonElement DontRecordButton(Guid eventId) => new("Don't record", DontRecordAction, eventId.ToString());

    static async Task RecordAsync(SlackRequest request)
    {
        request.Service<CopilotSession>().Start(request.User);
        try
        {
            await request.Service<CopilotActions>().ExecuteAsync(RecordMeetingAction.ActionName, new JsonObject { ["meeting_url"] = request.Text.Trim() },
                isSimulation: true, request.Aborted);
        }
        catch (ActionException e)
        {
            request.Reply(new SlackMessage(":information_source: " + e.Message));
            return;
        }
        var previews = request.Service<CopilotSession>().Previews;
        request.Reply(CopilotBlocks.Answer(new CopilotAnswer(0, "Here's the notetaker I'd send. Nothing happens until you confirm.", [], previews, null)));
    }

    static async Task DontRecordAsync(SlackRequest request)
    {
        if (!Guid.TryParse(request.ActionValue, out var eventId)) return;
        var now = request.Service<TimeProvider>().GetUtcNow();
        var outcome = await request.Service<Notetaker>().DontRecordAsync(eventId, request.User.Id, now, request.Aborted);
        var text = outcome switch
        {
            DontRecordOutcome.NotFound => "That meeting is no longer in your calendar.",
            DontRecordOutcome.BotCalledBack => ":no_bell: Not recorded: I called back the notetaker that was due to join.",
            DontRecordOutcome.BotStillOut => ":no_bell: Not recorded. MeetingBaaS didn't answer just now, so I'll keep calling the notetaker back until it's gone.",
            _ => ":no_bell: Not recorded: no notetaker will join this meeting.",
        };
        request.Reply(request.EditedElement(text), ReplyTarget.Original);
    }
}

/// <summary>
/// <c>record_meeting</c>: the preview of sending the notetaker to a link, and, on Confirm, the bot sent at once (consent: the rep's
/// choice, audited). A meeting that already has a bot on its way gets no second one.
/// </summary>
public sealed class RecordMeetingAction(Use60Db db, CopilotSession session, Notetaker notetaker, MeetingBaasClient baas) : IExternalAction
{
    public const string ActionName = "record_meeting";

    /// <summary>A calendar meeting this far either side of now with the same link is the one being recorded.</summary>
    static readonly TimeSpan SameMeeting = TimeSpan.FromHours(12);

    public string Name => ActionName;

    public async Task<(JsonObject Parameters, JsonObject Preview)> PreviewAsync(JsonObject parameters, CancellationToken cancellationToken)
    {
        var link = Link(parameters);
        var policy = await NotetakerPolicy.ReadAsync(db, session.User.Id, cancellationToken);
        return (new JsonObject { ["meeting_url"] = link.Url },
            new JsonObject
            {
                ["title"] = $"Send the notetaker to this {link.PlatformName} meeting now",
                ["meeting"] = link.Url,
                ["joins_as"] = policy.BotName,
                ["chat_notice"] = policy.ChatNotice,
                ["consent"] = "your choice: the recording is made on your say-so, and that is written to the audit log",
            });
    }

    public async Task<JsonObject> RunAsync(JsonObject parameters, PendingAction confirmed, CancellationToken cancellationToken)
    {
        var link = Link(parameters);
        var me = session.User;
        var now = session.Now;
        var policy = await NotetakerPolicy.ReadAsync(db, me.Id, cancellationToken);
        var meeting = await CalendarMeetingAsync(link, now, cancellationToken);
        var claimed = await notetaker.ClaimAsync(new Recording
        {
            OrgId = me.OrgId, UserId = me.Id, CalendarEventId = meeting?.Id, Source = RecordingSource.Command, Title = meeting?.Title, MeetingUrl = link.Url,
            MeetingKey = link.Key, Platform = link.Platform, BotName = policy.BotName, ChatNotice = policy.ChatNotice, ConsentBasis = ConsentBasis.RepChoice,
            ConsentRecordedAt = now,
        }, cancellationToken) ?? throw new ActionException("A notetaker is already on its way to that meeting (or in it), so I haven't sent another.");
        var (outcome, reason) = await notetaker.DeployAsync(claimed.Id, now, retryLater: false, tellRep: false, cancellationToken);
        if (outcome != DeployOutcome.Sent) throw new ActionException($"the notetaker could not be sent: {reason ?? "it was cancelled"}");
        return CopilotActions.Done($"The notetaker is joining your {link.PlatformName} meeting now as “{policy.BotName}”. It posts the recording notice in the chat, " +
                                   "and I'll tell you if it can't get in.", ("recording_id", claimed.Id.ToString()));
    }

    MeetingLink Link(JsonObject parameters)
    {
        if (!baas.IsConfigured)
            throw new ActionException("The notetaker isn't set up on this use60 yet (MEETINGBAAS_API_KEY). Ask whoever runs it to follow the README's \"Notetaker\" section.");
        var text = parameters["meeting_url"] is JsonValue value && value.TryGetValue<string>(out var s) ? s.Trim() : "";
        if (text.Length == 0) throw new ActionException("Give me the meeting's link: `/sixty record https://zoom.us/j/…` (Zoom, Google Meet or Microsoft Teams).");
        if (MeetingLinks.Parse(text) is { } link) return link;
        throw new ActionException(Uri.TryCreate(text.Trim('<', '>'), UriKind.Absolute, out _)
            ? $"{text} isn't a Zoom, Google Meet or Microsoft Teams meeting link, so there's no meeting for the notetaker to join."
            : $"“{text}” isn't a link. Paste the meeting's Zoom, Google Meet or Microsoft Teams link: `/sixty record https://meet.google.com/abc-defg-hij`.");
    }

    /// <summary>The rep's calendar meeting with this link around now, unless it already has a recording of its own.</summary>
    async Task<Calendar.CalendarEvent?> CalendarMeetingAsync(MeetingLink link, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var userId = session.User.Id;
        var candidates = await db.CalendarEvents.AsNoTracking()
            .Where(e => e.UserId == userId && e.StartTime >= now - SameMeeting && e.StartTime <= now + SameMeeting).ToListAsync(cancellationToken);
        var meeting = candidates.Where(e => MeetingLinks.Of(e)?.Key == link.Key).MinBy(e => (e.StartTime - now).Duration());
        if (meeting is null) return null;
        var recorded = await db.Recordings.AnyAsync(r => r.CalendarEventId == meeting.Id && r.Status != RecordingStatus.Cancelled, cancellationToken);
        return recorded ? null : meeting;
    }
}
