using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Crm;
using Use60.Data;
using Use60.Security;
using Use60.Slack;

namespace Use60.Copilot;

/// <summary>A step or action that cannot run as asked; its message is safe to show the rep.</summary>
public sealed class ActionException(string message) : Exception(message);

/// <summary>
/// An action outside CopilotActions' own that changes the outside world (a feature's, e.g. sending the notetaker): previewed and stored
/// as a pending action like every external action, and run only when the rep confirms it.
/// </summary>
public interface IExternalAction
{
    string Name { get; }

    /// <summary>The parameters to keep for the confirm (checked and normalised) and what the rep is shown; throws <see cref="ActionException"/>.</summary>
    Task<(JsonObject Parameters, JsonObject Preview)> PreviewAsync(JsonObject parameters, CancellationToken cancellationToken);

    /// <summary>Runs the confirmed action once; returns <c>{"status": "done", "summary": …}</c>, or throws <see cref="ActionException"/>.</summary>
    Task<JsonObject> RunAsync(JsonObject parameters, PendingAction confirmed, CancellationToken cancellationToken);
}

/// <summary>
/// What execute_action runs. Reads answer at once; an action that changes something outside the reply (email, task,
/// Slack post, CRM change) is only ever previewed and stored as a pending action, unless it is the very action the rep
/// has just confirmed — the rule lives here, not in a prompt.
/// </summary>
public sealed class CopilotActions(Use60Db db, CopilotSession session, CrmQueries crm, EntityResolver resolver, SkillCatalog skills,
    PendingActions pending, Mailer mailer, SlackOutbox outbox, SecurityAudit audit, IEnumerable<IExternalAction> features, ILogger<CopilotActions> logger)
{
    /// <summary>Features' own external actions, by name.</summary>
    readonly Dictionary<string, IExternalAction> added = features.ToDictionary(f => f.Name);

    public static readonly IReadOnlySet<string> External = new HashSet<string>
        { "send_email", "post_slack_message", "create_task", "update_deal_stage", "log_activity" };

    public static readonly IReadOnlyList<string> Names =
    [
        "get_meetings_for_period", "get_next_meeting", "get_last_meeting", "get_pipeline_summary", "search_deals", "get_deal", "get_contact",
        "get_overdue_tasks", "search_meetings", "draft_email", "create_task", "update_deal_stage", "log_activity", "send_email",
        "post_slack_message", "run_skill", "run_sequence",
    ];

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Results the Slack layer shows as cards, whichever planner asked for them.</summary>
    static readonly IReadOnlySet<string> Cards = new HashSet<string> { "meeting_list", "pipeline_summary", "task_list" };

    /// <summary>How many of each attendee's last activities a meeting shows.</summary>
    const int AttendeeHistory = 3;

    DbResult<Orgs.OrgProfile?>? preloadedProfile;

    /// <summary>
    /// Reads ahead, with the rest of <paramref name="batch"/>, everything <c>seq-next-meeting-command-center</c> reads for these meetings
    /// (the org's skills and profile, the meetings with their people and deals): a job briefing a rep on several meetings then runs the
    /// sequence for each without another round trip.
    /// </summary>
    public void PreloadMeetingBriefs(DbBatch batch, Guid orgId, IReadOnlyCollection<Guid> meetingIds)
    {
        skills.Preload(batch, orgId);
        preloadedProfile = batch.Add<Orgs.OrgProfile?>($"SELECT to_json(p) FROM org_profile p");
        crm.Preload(batch, meetingIds, AttendeeHistory);
    }

    async Task<Orgs.OrgProfile?> ProfileAsync(CancellationToken cancellationToken) =>
        preloadedProfile is { } preloaded ? preloaded.Value : await db.OrgProfiles.AsNoTracking().SingleOrDefaultAsync(cancellationToken);

    public async Task<JsonObject> ExecuteAsync(string action, JsonObject parameters, bool isSimulation, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var name = action.Trim().ToLowerInvariant();
        // In the order the actions started: a sequence before its steps, though it finishes after them.
        var position = session.Trace.Count;
        try
        {
            var result = await RunAsync(name, parameters, isSimulation, cancellationToken);
            if ((string?)result["type"] is { } type && Cards.Contains(type)) session.Structured.Add(result);
            session.Trace.Insert(position, new ActionTrace(name, parameters.ToJsonString(Json), Elapsed(started), result.ToJsonString(Json), null));
            return result;
        }
        catch (Exception e) when (e is ActionException or TemplateVariableException)
        {
            session.Trace.Insert(position, new ActionTrace(name, parameters.ToJsonString(Json), Elapsed(started), null, e.Message));
            throw;
        }
    }

    static int Elapsed(long started) => (int)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    async Task<JsonObject> RunAsync(string action, JsonObject parameters, bool isSimulation, CancellationToken cancellationToken)
    {
        if (External.Contains(action) || added.ContainsKey(action))
        {
            // Only the action the rep confirmed, with the parameters they saw, runs for real — whatever is_simulation says.
            if (session.Confirmed is { } confirmed && confirmed.Action == action && !isSimulation)
                return await RunExternalAsync(action, JsonNode.Parse(confirmed.Params)!.AsObject(), confirmed, cancellationToken);
            return await PreviewAsync(action, parameters, cancellationToken);
        }
        return action switch
        {
            "get_meetings_for_period" => await MeetingsAsync(Str(parameters, "period") ?? "today", cancellationToken),
            "get_next_meeting" => await NextMeetingAsync(Str(parameters, "meeting_id"), cancellationToken),
            "get_last_meeting" => await LastMeetingAsync(Str(parameters, "recorded_meeting_id"), cancellationToken),
            "get_pipeline_summary" => Node(await crm.PipelineAsync(session.User.Id, session.Today, session.Now, cancellationToken), "pipeline_summary"),
            "search_meetings" => new JsonObject
            {
                ["meetings"] = Node(await crm.SearchMeetingsAsync(Str(parameters, "query")
                    ?? throw new ActionException("search_meetings needs a query: the words to look for in what was said."), 5, cancellationToken)),
            },
            "search_deals" => new JsonObject
            {
                ["deals"] = Node(await crm.SearchDealsAsync(Str(parameters, "query"), Str(parameters, "stage"), session.Now, 10, cancellationToken)),
            },
            "get_deal" => await DealAsync(parameters, cancellationToken),
            "get_contact" => await ContactAsync(parameters, cancellationToken),
            "get_overdue_tasks" => new JsonObject
            {
                ["type"] = "task_list", ["tasks"] = Node(await crm.OverdueTasksAsync(session.User.Id, session.Today, cancellationToken)),
            },
            "draft_email" => await DraftEmailAsync(parameters, cancellationToken),
            "run_skill" => await RunSkillAsync(parameters, isSimulation, cancellationToken),
            "run_sequence" => await RunSequenceAsync(Str(parameters, "sequence_key") ?? Str(parameters, "skill_key")
                                                     ?? throw new ActionException("run_sequence needs a sequence_key."),
                parameters["inputs"] as JsonObject ?? [], isSimulation, cancellationToken),
            _ => throw new ActionException($"There is no action '{action}'. Actions: {string.Join(", ", Names)}."),
        };
    }

    async Task<JsonObject> MeetingsAsync(string period, CancellationToken cancellationToken)
    {
        var today = session.Today;
        var (from, to, label) = period.Trim().ToLowerInvariant().Replace(' ', '_') switch
        {
            "today" => (today, today.AddDays(1), "today"),
            "tomorrow" => (today.AddDays(1), today.AddDays(2), "tomorrow"),
            "this_week" or "week" => (today, today.AddDays(7 - ((int)today.DayOfWeek + 6) % 7), "this week"),
            _ => throw new ActionException("period must be today, tomorrow or this_week."),
        };
        var meetings = await crm.MeetingsAsync(session.User.Id, session.StartOfLocalDay(from), session.StartOfLocalDay(to), cancellationToken);
        return new JsonObject { ["type"] = "meeting_list", ["period"] = label, ["meetings"] = new JsonArray([.. meetings.Select(MeetingJson)]) };
    }

    async Task<JsonObject> NextMeetingAsync(string? meetingId, CancellationToken cancellationToken)
    {
        var meeting = Guid.TryParse(meetingId, out var id)
            ? await crm.MeetingAsync(id, cancellationToken) ?? throw new ActionException("That meeting is not in your calendar.")
            : await crm.NextMeetingAsync(session.User.Id, session.Now, cancellationToken)
              ?? throw new ActionException("You have no upcoming meetings with other people in your calendar.");
        var json = MeetingJson(meeting);
        // Who is coming, with what the rep did with each of them lately.
        foreach (var attendee in json["attendees"]!.AsArray().OfType<JsonObject>())
            if (Guid.TryParse((string?)attendee["contact_id"], out var contactId))
                attendee["history"] = Node(await crm.ContactHistoryAsync(contactId, AttendeeHistory, cancellationToken));
        return json;
    }

    JsonObject MeetingJson(MeetingLine meeting)
    {
        var json = Node(meeting);
        json["local_start"] = LocalStart(meeting.Start);
        // The main external attendee: who a follow-up goes to.
        json["contact"] = Node(meeting.Attendees.FirstOrDefault(a => a.ContactId is not null) ?? meeting.Attendees.FirstOrDefault(a => !a.IsRep));
        return json;
    }

    /// <summary>
    /// The last meeting, or a recorded one (a <c>meetings</c> row, as a transcript leaves it), with the notes its transcript gives:
    /// summary, decisions and action items (empty when it was not recorded).
    /// </summary>
    async Task<JsonObject> LastMeetingAsync(string? recordedMeetingId, CancellationToken cancellationToken)
    {
        Meeting? recorded;
        MeetingLine? line;
        if (recordedMeetingId is not null)
        {
            recorded = Guid.TryParse(recordedMeetingId, out var id)
                ? await db.Meetings.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id, cancellationToken) : null;
            if (recorded is null) throw new ActionException("That recorded meeting is not one you can see.");
            line = recorded.CalendarEventId is { } eventId ? await crm.MeetingAsync(eventId, cancellationToken) : null;
        }
        else
        {
            line = await crm.LastMeetingAsync(session.User.Id, session.Now, cancellationToken)
                   ?? throw new ActionException("You have no past meetings with other people in your calendar.");
            recorded = await db.Meetings.AsNoTracking().Where(m => m.CalendarEventId == line.Id && m.TranscriptAt != null)
                .OrderByDescending(m => m.TranscriptAt).FirstOrDefaultAsync(cancellationToken);
        }
        var json = line is not null ? MeetingJson(line) : await RecordedMeetingJsonAsync(recorded!, cancellationToken);
        json["notes"] = Node(Recordings.MeetingNotes.Extract(recorded?.Transcript));
        if (recorded is not null) json["recorded_meeting_id"] = recorded.Id.ToString();
        if (recorded?.RecordingId is { } recordingId) json["recording_id"] = recordingId.ToString();
        else if (recorded?.VideoUrl is { } videoUrl) json["video_url"] = videoUrl;   // a source that keeps the video itself (Fathom)
        return json;
    }

    string LocalStart(DateTimeOffset start) => TimeZoneInfo.ConvertTime(start, session.Zone).ToString("ddd d MMM HH:mm", CultureInfo.InvariantCulture);

    /// <summary>A recorded meeting that is not (or no longer) in the calendar: its title and time, and its deal's main contact.</summary>
    async Task<JsonObject> RecordedMeetingJsonAsync(Meeting recorded, CancellationToken cancellationToken)
    {
        var json = new JsonObject
        {
            ["id"] = recorded.Id.ToString(), ["title"] = recorded.Title, ["start"] = recorded.StartTime.ToString("O", CultureInfo.InvariantCulture),
            ["local_start"] = LocalStart(recorded.StartTime),
            ["deal_id"] = recorded.DealId?.ToString(), ["attendees"] = new JsonArray(),
        };
        if (recorded.DealId is { } dealId && await crm.DealAsync(dealId, [], session.Today, session.Now, cancellationToken) is { PrimaryContact: { } contact })
            json["contact"] = Node(contact);
        return json;
    }

    async Task<JsonObject> DealAsync(JsonObject parameters, CancellationToken cancellationToken)
    {
        var id = await ResolveIdAsync(parameters, "deal_id", "deal", "deal", cancellationToken);
        var profile = await ProfileAsync(cancellationToken);
        var detail = await crm.DealAsync(id, profile?.Competitors.Select(c => c.Name).ToList() ?? [], session.Today, session.Now, cancellationToken)
                     ?? throw new ActionException("That deal is not one you can see.");
        var json = Node(detail);
        json["competitor_positioning"] = new JsonArray([.. (profile?.Competitors ?? []).Where(c => detail.CompetitorsMentioned.Contains(c.Name))
            .Select(c => (JsonNode)new JsonObject { ["competitor"] = c.Name, ["positioning"] = c.Positioning })]);
        return json;
    }

    async Task<JsonObject> ContactAsync(JsonObject parameters, CancellationToken cancellationToken)
    {
        var id = await ResolveIdAsync(parameters, "contact_id", "name", "contact", cancellationToken);
        var person = await crm.PersonAsync(id, cancellationToken) ?? throw new ActionException("That contact is not one you can see.");
        var json = JsonSerializer.SerializeToNode(person, Json)!.AsObject();
        json["history"] = Node(await crm.ContactHistoryAsync(id, 5, cancellationToken));
        audit.RecordContactsRead(db, "get_contact", 1);
        return json;
    }

    async Task<JsonObject> DraftEmailAsync(JsonObject parameters, CancellationToken cancellationToken)
    {
        var contactId = await ResolveIdAsync(parameters, "contact_id", "to", "contact", cancellationToken);
        var person = await WritableContactAsync(contactId, cancellationToken);
        var topic = Str(parameters, "topic")?.Trim();
        var first = person.Name.Split(' ')[0];
        var profile = await ProfileAsync(cancellationToken);
        var subject = Str(parameters, "subject") ?? (topic is { Length: > 0 } ? Capitalise(topic) : $"Following up from {profile?.CompanyName ?? "us"}");
        // A recap from the meeting's notes, when the transcript gave some: what was said and what happens next.
        var recap = Str(parameters, "summary") is { Length: > 0 } summary ? summary.Trim() : null;
        var nextSteps = (parameters["next_steps"] as JsonArray)?.Select(s => (s as JsonObject)?["title"]?.ToString() ?? s?.ToString())
            .OfType<string>().Where(s => s.Length > 0).Take(5).ToList() ?? [];
        var signature = $"Best,\n{session.User.Name}" + (profile?.CompanyName is { Length: > 0 } company ? $"\n{company}" : "");
        var body = Str(parameters, "body") ?? (recap is not null
            ? $"Hi {first},\n\nThank you for your time today. A quick recap: {recap}\n\n" +
              (nextSteps.Count > 0 ? "Next steps:\n" + string.Join('\n', nextSteps.Select(s => "• " + s)) + "\n\n" : "") +
              "Let me know if I missed anything.\n\n" + signature
            : $"Hi {first},\n\n" +
              (topic is { Length: > 0 } ? $"I wanted to follow up with you about {topic}. " : "I wanted to follow up on our conversation. ") +
              "Would a 20-minute call this week work to go through it and agree next steps?\n\n" + signature);
        return new JsonObject
        {
            ["type"] = "email_draft", ["contact_id"] = contactId.ToString(), ["to"] = person.Email, ["to_name"] = person.Name,
            ["company"] = person.Company, ["subject"] = subject, ["body"] = body,
        };
    }

    async Task<JsonObject> RunSkillAsync(JsonObject parameters, bool isSimulation, CancellationToken cancellationToken)
    {
        var key = Str(parameters, "skill_key") ?? throw new ActionException("run_skill needs a skill_key.");
        var skill = await skills.FindAsync(session.OrgId, key, cancellationToken) ?? throw new ActionException($"There is no skill '{key}'.");
        if (skill.IsSequence) return await RunSequenceAsync(skill.Key, parameters["inputs"] as JsonObject ?? [], isSimulation, cancellationToken);
        return new JsonObject { ["skill_key"] = skill.Key, ["instructions"] = await CompileAsync(skill, cancellationToken) };
    }

    /// <summary>A skill's document with the org's variables (company, pains, voice) and the rep's name filled in.</summary>
    public async Task<string> CompileAsync(SkillDocument skill, CancellationToken cancellationToken)
    {
        var profile = await ProfileAsync(cancellationToken);
        var context = new JsonObject
        {
            ["org"] = new JsonObject
            {
                ["company_name"] = profile?.CompanyName ?? "", ["brand_voice"] = profile?.BrandVoice ?? "",
                ["pain_points"] = string.Join("; ", profile?.PainPoints ?? []), ["value_propositions"] = string.Join("; ", profile?.ValuePropositions ?? []),
                ["products"] = string.Join("; ", profile?.Products.Select(p => p.Name) ?? []),
                ["competitors"] = string.Join("; ", profile?.Competitors.Select(c => c.Name) ?? []),
            },
            ["rep"] = new JsonObject { ["name"] = session.User.Name, ["first_name"] = session.FirstName },
        };
        var text = TemplateVariables.Display(skill.Body, context, out var unresolved);
        if (unresolved.Count > 0) logger.LogWarning("Skill {Skill} refers to unknown variables {Variables}", skill.Key, unresolved);
        return text;
    }

    /// <summary>Runs a sequence's steps in order, each through this same gate; an optional step that fails is skipped with a note.</summary>
    public async Task<JsonObject> RunSequenceAsync(string key, JsonObject inputs, bool isSimulation, CancellationToken cancellationToken)
    {
        var sequence = await skills.FindAsync(session.OrgId, key, cancellationToken);
        if (sequence is not { IsSequence: true }) throw new ActionException($"There is no sequence '{key}'.");
        var given = new JsonObject();
        foreach (var input in sequence.Inputs)
        {
            if (inputs[input.Name] is { } value) given[input.Name] = value.DeepClone();
            else if (input.Required) throw new ActionException($"The sequence {key} needs '{input.Name}' ({input.Description}).");
            else given[input.Name] = null;
        }
        var outputs = new JsonObject();
        var context = new JsonObject { ["inputs"] = given, ["outputs"] = outputs };
        var skipped = new JsonArray();
        foreach (var step in sequence.Steps)
        {
            try
            {
                var stepParams = TemplateVariables.Resolve(step.Params, context)!.AsObject();
                outputs[step.Id] = await ExecuteAsync(step.Action, stepParams, isSimulation, cancellationToken);
            }
            catch (Exception e) when (e is ActionException or TemplateVariableException)
            {
                if (!step.Optional) throw new ActionException($"Step '{step.Id}' of {key} could not run: {e.Message}");
                skipped.Add(new JsonObject { ["step"] = step.Id, ["reason"] = e.Message });
            }
        }
        var result = new JsonObject { ["type"] = sequence.Response ?? "sequence_result", ["sequence_key"] = key, ["outputs"] = outputs.DeepClone(), ["skipped"] = skipped };
        session.Structured.Add(result);
        return result;
    }

    async Task<JsonObject> PreviewAsync(string action, JsonObject parameters, CancellationToken cancellationToken)
    {
        var (normalised, preview) = added.TryGetValue(action, out var feature) ? await feature.PreviewAsync(parameters, cancellationToken) : action switch
        {
            "send_email" => await EmailPreviewAsync(parameters, cancellationToken),
            "create_task" => TaskPreview(parameters),
            "update_deal_stage" => await StagePreviewAsync(parameters, cancellationToken),
            "log_activity" => await ActivityPreviewAsync(parameters, cancellationToken),
            _ => SlackPostPreview(parameters),
        };
        var row = await pending.CreateAsync(action, normalised, preview, cancellationToken);
        session.Previews.Add(row);
        return new JsonObject
        {
            ["status"] = "preview", ["requires_confirmation"] = true, ["pending_action_id"] = row.Id.ToString(), ["action"] = action,
            ["preview"] = preview.DeepClone(),
            ["note"] = "Nothing has been done yet: the rep sees this preview with Confirm and Cancel buttons.",
        };
    }

    async Task<(JsonObject, JsonObject)> EmailPreviewAsync(JsonObject parameters, CancellationToken cancellationToken)
    {
        var contactId = await ResolveIdAsync(parameters, "contact_id", "to", "contact", cancellationToken);
        var person = await WritableContactAsync(contactId, cancellationToken);
        var subject = Str(parameters, "subject") is { Length: > 0 } s ? s : throw new ActionException("send_email needs a subject.");
        var body = Str(parameters, "body") is { Length: > 0 } b ? b : throw new ActionException("send_email needs a body.");
        return (new JsonObject { ["contact_id"] = contactId.ToString(), ["subject"] = subject, ["body"] = body },
            new JsonObject
            {
                ["title"] = $"Send an email to {person.Name}", ["to"] = $"{person.Name} <{person.Email}>", ["subject"] = subject, ["body"] = body,
            });
    }

    (JsonObject, JsonObject) TaskPreview(JsonObject parameters)
    {
        var title = Str(parameters, "title") is { Length: > 0 } t ? t.Trim() : throw new ActionException("create_task needs a title.");
        var due = Str(parameters, "due_date") is { } text
            ? DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d
            : throw new ActionException("due_date must be a date like 2026-12-01.")
            : session.Today.AddDays(parameters["due_in_days"] is JsonValue days && days.TryGetValue<int>(out var n) ? n : 1);
        var normalised = new JsonObject { ["title"] = title, ["due_date"] = due.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) };
        if (Guid.TryParse(Str(parameters, "deal_id"), out var deal)) normalised["deal_id"] = deal.ToString();
        if (Guid.TryParse(Str(parameters, "contact_id"), out var contact)) normalised["contact_id"] = contact.ToString();
        return (normalised, new JsonObject
        {
            ["title"] = "Create a task", ["task"] = title, ["due"] = due.ToString("ddd d MMM yyyy", CultureInfo.InvariantCulture),
        });
    }

    async Task<(JsonObject, JsonObject)> StagePreviewAsync(JsonObject parameters, CancellationToken cancellationToken)
    {
        var dealId = await ResolveIdAsync(parameters, "deal_id", "deal", "deal", cancellationToken);
        var deal = await db.Deals.AsNoTracking().SingleOrDefaultAsync(d => d.Id == dealId && d.UserId == session.User.Id, cancellationToken)
                   ?? throw new ActionException("You can only move your own deals.");
        if (!Enum.TryParse<DealStage>((Str(parameters, "stage") ?? "").Replace("_", "").Replace(" ", ""), true, out var stage))
            throw new ActionException($"stage must be one of {string.Join(", ", Enum.GetValues<DealStage>().Select(SnakeCase.ValueOf))}.");
        return (new JsonObject { ["deal_id"] = dealId.ToString(), ["stage"] = SnakeCase.ValueOf(stage) },
            new JsonObject { ["title"] = $"Move {deal.Name}", ["from"] = SnakeCase.ValueOf(deal.Stage), ["to"] = SnakeCase.ValueOf(stage) });
    }

    async Task<(JsonObject, JsonObject)> ActivityPreviewAsync(JsonObject parameters, CancellationToken cancellationToken)
    {
        var subject = Str(parameters, "subject") is { Length: > 0 } s ? s : throw new ActionException("log_activity needs a subject.");
        if (!Enum.TryParse<ActivityType>(Str(parameters, "type") ?? "note", true, out var type))
            throw new ActionException("type must be email, call, meeting, note or linkedin.");
        var normalised = new JsonObject { ["type"] = SnakeCase.ValueOf(type), ["subject"] = subject, ["details"] = Str(parameters, "details") };
        string? on = null;
        if (parameters["deal_id"] is not null || parameters["deal"] is not null)
        {
            var dealId = await ResolveIdAsync(parameters, "deal_id", "deal", "deal", cancellationToken);
            normalised["deal_id"] = dealId.ToString();
            on = await db.Deals.Where(d => d.Id == dealId).Select(d => d.Name).SingleAsync(cancellationToken);
        }
        return (normalised, new JsonObject { ["title"] = $"Log a {SnakeCase.ValueOf(type)}" + (on is null ? "" : $" on {on}"), ["subject"] = subject });
    }

    static (JsonObject, JsonObject) SlackPostPreview(JsonObject parameters)
    {
        var channel = Str(parameters, "channel")?.Trim().TrimStart('#') is { Length: > 0 } c ? c : throw new ActionException("post_slack_message needs a channel.");
        var text = Str(parameters, "text") is { Length: > 0 } t ? t : throw new ActionException("post_slack_message needs text.");
        return (new JsonObject { ["channel"] = channel, ["text"] = text },
            new JsonObject { ["title"] = $"Post in <#{channel}>", ["text"] = text });
    }

    async Task<JsonObject> RunExternalAsync(string action, JsonObject parameters, PendingAction confirmed, CancellationToken cancellationToken)
    {
        if (added.TryGetValue(action, out var feature)) return await feature.RunAsync(parameters, confirmed, cancellationToken);
        var me = session.User;
        switch (action)
        {
            case "send_email":
            {
                var contactId = Guid.Parse((string)parameters["contact_id"]!);
                var person = await crm.PersonAsync(contactId, cancellationToken) ?? throw new ActionException("That contact is no longer in the CRM.");
                var email = await mailer.SendAsync(db, new OutboundEmail
                {
                    OrgId = me.OrgId, UserId = me.Id, PendingActionId = confirmed.Id, ContactId = contactId, ToAddress = person.Email!,
                    ToName = person.Name, Subject = (string)parameters["subject"]!, Body = (string)parameters["body"]!,
                }, me.Name, me.Email ?? "", cancellationToken);
                db.Activities.Add(new Activity
                {
                    OrgId = me.OrgId, UserId = me.Id, ContactId = contactId, Type = ActivityType.Email, Subject = email.Subject, OccurredAt = session.Now,
                });
                await db.SaveChangesAsync(cancellationToken);
                return Done($"Email sent to {person.Name}" + (email.Delivery == EmailDelivery.Sandbox ? " (kept in the mail sandbox: no SMTP relay is set up)" : ""),
                    ("email_id", email.Id.ToString()));
            }
            case "create_task":
            {
                var task = new CrmTask
                {
                    OrgId = me.OrgId, UserId = me.Id, Title = (string)parameters["title"]!,
                    DueDate = DateOnly.ParseExact((string)parameters["due_date"]!, "yyyy-MM-dd", CultureInfo.InvariantCulture),
                    DealId = Guid.TryParse((string?)parameters["deal_id"], out var deal) ? deal : null,
                    ContactId = Guid.TryParse((string?)parameters["contact_id"], out var contact) ? contact : null,
                };
                db.Tasks.Add(task);
                await db.SaveChangesAsync(cancellationToken);
                return Done($"Task created: {task.Title}, due {task.DueDate:ddd d MMM}", ("task_id", task.Id.ToString()));
            }
            case "update_deal_stage":
            {
                var deal = await db.Deals.SingleAsync(d => d.Id == Guid.Parse((string)parameters["deal_id"]!), cancellationToken);
                var stage = Enum.Parse<DealStage>(((string)parameters["stage"]!).Replace("_", ""), true);
                var from = deal.Stage;
                (deal.Stage, deal.Probability) = (stage, DealStages.DefaultProbability(stage));
                await db.SaveChangesAsync(cancellationToken);
                return Done($"{deal.Name} moved from {SnakeCase.ValueOf(from)} to {SnakeCase.ValueOf(stage)}", ("deal_id", deal.Id.ToString()));
            }
            case "log_activity":
            {
                var activity = new Activity
                {
                    OrgId = me.OrgId, UserId = me.Id, Type = Enum.Parse<ActivityType>((string)parameters["type"]!, true), Subject = (string)parameters["subject"]!,
                    Details = (string?)parameters["details"], DealId = Guid.TryParse((string?)parameters["deal_id"], out var deal) ? deal : null,
                    OccurredAt = session.Now,
                };
                db.Activities.Add(activity);
                await db.SaveChangesAsync(cancellationToken);
                return Done($"Logged: {activity.Subject}", ("activity_id", activity.Id.ToString()));
            }
            default:
            {
                var channel = (string)parameters["channel"]!;
                await outbox.SendAsync(db, OutboxDraft.Post(me.OrgId, me.Id, channel, null,
                    new SlackMessage($"{parameters["text"]}\n— posted for {me.Name}"), "copilot post_slack_message"), cancellationToken);
                return Done($"Posted in <#{channel}>");
            }
        }
    }

    public static JsonObject Done(string summary, params (string Key, string Value)[] ids)
    {
        var result = new JsonObject { ["status"] = "done", ["summary"] = summary };
        foreach (var (key, value) in ids) result[key] = value;
        return result;
    }

    /// <summary>A contact the rep can see and that has an email address to write to.</summary>
    async Task<PersonLine> WritableContactAsync(Guid contactId, CancellationToken cancellationToken)
    {
        var person = await crm.PersonAsync(contactId, cancellationToken) ?? throw new ActionException("That contact is not one you can see.");
        return string.IsNullOrWhiteSpace(person.Email) ? throw new ActionException($"{person.Name} has no email address in the CRM.") : person;
    }

    /// <summary>An id parameter, or a name resolved to exactly one entity; several matches are a question for the rep, not a guess.</summary>
    async Task<Guid> ResolveIdAsync(JsonObject parameters, string idField, string nameField, string type, CancellationToken cancellationToken)
    {
        if (Guid.TryParse(Str(parameters, idField), out var id)) return id;
        var name = Str(parameters, nameField) ?? Str(parameters, idField);
        if (string.IsNullOrWhiteSpace(name)) throw new ActionException($"Say which {type}: {idField} or {nameField} is needed.");
        var good = EntityResolver.Good((await resolver.ResolveAsync(name, type, cancellationToken)).Where(c => c.Type == type).ToList());
        return good switch
        {
            [var one] => one.Id,
            [] => throw new ActionException($"I found no {type} matching '{name}'."),
            _ => throw new ActionException($"'{name}' matches {good.Count} {type}s ({string.Join("; ", good.Select(c => $"{c.Name}, {c.Detail}"))}): ask the rep which one."),
        };
    }

    static string? Str(JsonObject parameters, string name) => parameters[name] switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => string.IsNullOrWhiteSpace(s) ? null : s,
        JsonValue v => v.ToJsonString(),
        _ => null,
    };

    static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    static JsonObject Node<T>(T value, string type) where T : notnull
    {
        var json = JsonSerializer.SerializeToNode(value, Json)!.AsObject();
        json["type"] = type;
        return json;
    }

    static JsonObject Node<T>(T value) where T : notnull => JsonSerializer.SerializeToNode(value, Json)!.AsObject();

    static JsonNode? Node<T>(IReadOnlyList<T> values) => JsonSerializer.SerializeToNode(values, Json);

    static JsonNode? Node(PersonLine? person) => person is null ? null : JsonSerializer.SerializeToNode(person, Json);
}
