using System.ComponentModel.DataAnnotations.Schema;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Quartz;
using Use60.Data;
using Use60.Recordings;
using Use60.Security;

namespace Use60.Privacy;

public enum PrivacyRequestKind { RightToBeForgotten, Erasure, Access, Portability }

public enum PrivacyRequestStatus { Pending, Approved, Rejected, Completed }

/// <summary>A request about one person's data (migration 0025); once executed or rejected it keeps no trace of whom it was about.</summary>
[Table("privacy_requests")]
public sealed class PrivacyRequest : IOrgOwned
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public PrivacyRequestKind Kind { get; set; }

    /// <summary>The person's email (a prospect's): cleared when the request is completed or rejected.</summary>
    public string? SubjectEmail { get; set; }

    /// <summary>Or a member of the org: their user row stays, anonymised, as the owner of the company's records.</summary>
    public Guid? SubjectUserId { get; set; }

    public PrivacyRequestStatus Status { get; set; }
    public Guid RequestedBy { get; set; }
    public DateTimeOffset RequestedAt { get; set; }
    public Guid? DecidedBy { get; set; }
    public DateTimeOffset? DecidedAt { get; set; }

    /// <summary>The end of the grace period: an approved erasure is executed from then on.</summary>
    public DateTimeOffset ExecuteAfter { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>What the execution removed, as counts (JSON object).</summary>
    [Column(TypeName = "jsonb")]
    public string? Result { get; set; }

    /// <summary>Why the last execution failed (it is tried again at the next run, up to <see cref="PrivacyRequests.MaxAttempts"/> times).</summary>
    public string? Error { get; set; }

    /// <summary>Failed executions so far; at <see cref="PrivacyRequests.MaxAttempts"/> the job stops trying until an admin retries it.</summary>
    public int Attempts { get; set; }

    public bool GaveUp => Status == PrivacyRequestStatus.Approved && Attempts >= PrivacyRequests.MaxAttempts;

    public bool IsErasure => Kind is PrivacyRequestKind.RightToBeForgotten or PrivacyRequestKind.Erasure;
}

/// <summary>What executing an erasure removed: counts, never the data. (A member's erasure counts their personal rows as <c>PersonalRows</c>.)</summary>
public sealed record ErasureResult(int Contacts, int Activities, int Emails, int TranscriptsRemoved, int CalendarEvents, int Recordings, int StoredObjects,
    int Mentions, int PersonalRows = 0);

/// <summary>A request that cannot be made or decided as asked; the message says why, for the admin.</summary>
public sealed class PrivacyRequestException(string message) : Exception(message);

/// <summary>
/// Erasure requests: created by an owner or admin for a prospect's email, approved or rejected by another one, and executed by the
/// privacy-requests job once approved and past the 30-day grace period. Execution deletes the person's contacts and what hangs off
/// them (<see cref="ContactDeletion"/>), the recordings only they were in (rows and stored objects), their entries in calendar
/// attendee lists, and every remaining mention of their email or name in the org's text and JSON columns; the request is then a
/// tombstone (who asked, who approved, counts), and the audit log says the same. Idempotent: a run that fails is done again whole.
/// </summary>
public sealed class PrivacyRequests(SystemDb system, ContactDeletion contacts, OrgKeyring keyring, SecurityAudit audit,
    PrivacyExports exports, IExportKick kick, TimeProvider clock, ILogger<PrivacyRequests> logger)
{
    /// <summary>The seeds' grace period: an erasure is executed no sooner than this after it was asked for.</summary>
    public static readonly TimeSpan GracePeriod = TimeSpan.FromDays(30);

    /// <summary>GDPR's one month: an approved request not completed this long after its approval is overdue.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromDays(30);

    public const string Erased = "[erased]";

    /// <summary>Failed runs (an hour apart) before the job stops and the admins are alerted: a failure this persistent needs a person.</summary>
    public const int MaxAttempts = 5;

    /// <summary>
    /// Tables whose text is not scrubbed: the append-only audit log (it holds no personal data by design) and the append-only
    /// histories of the org's own profile and skills (their triggers refuse updates; they hold the company's texts, not prospects'),
    /// the requests and exports themselves (an erasure closes its own; an export's address is cleared when it is done), users
    /// (erased as users, not as prospects), and the scheduler's and migrations' own.
    /// </summary>
    static readonly string[] NotScrubbed =
        ["security_audit_log", "org_profile_revisions", "skill_override_revisions", "privacy_requests", "privacy_exports", "users", "schema_migrations"];

    /// <summary>
    /// Creates a pending request (audited) about a member of the org (<paramref name="userId"/>) or else a prospect's email; the caller is an
    /// owner or admin of <paramref name="db"/>'s org.
    /// </summary>
    public async Task<PrivacyRequest> CreateAsync(Use60Db db, PrivacyRequestKind kind, string? email, HttpContext? http, CancellationToken cancellationToken,
        Guid? userId = null)
    {
        if (userId is { } member)
        {
            await CheckMemberAsync(db, kind, member, cancellationToken);
            return await AddAsync(db, kind, null, member, http, cancellationToken);
        }
        var address = email?.Trim().ToLowerInvariant() ?? "";
        if (address.Length is 0 or > 320 || address.Count(c => c == '@') != 1 || address.Any(char.IsWhiteSpace) || address.StartsWith('@') || address.EndsWith('@'))
            throw new PrivacyRequestException("Enter the person's email address, such as jane@prospect.com.");
        if (await db.PrivacyRequests.AnyAsync(r => r.SubjectEmail == address && (r.Status == PrivacyRequestStatus.Pending || r.Status == PrivacyRequestStatus.Approved),
                cancellationToken))
            throw new PrivacyRequestException("There is already an open request for this address.");
        var request = await AddAsync(db, kind, address, null, http, cancellationToken);
        // Access and portability are answered with an export of the person's data, made at once (no grace period, nothing is removed).
        if (request.IsErasure) return request;
        var export = exports.AddForRequest(db, request, http);
        await db.SaveChangesAsync(cancellationToken);
        kick.Kick(export.Id);
        return request;
    }

    /// <summary>A request about a member: an erasure, of someone who is not an owner nor the one asking, with none open already.</summary>
    static async Task CheckMemberAsync(Use60Db db, PrivacyRequestKind kind, Guid userId, CancellationToken cancellationToken)
    {
        if (kind is not (PrivacyRequestKind.RightToBeForgotten or PrivacyRequestKind.Erasure))
            throw new PrivacyRequestException("An access or portability request is made for a person's email address (their export); a member exports their own conversations with /sixty export.");
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == userId, cancellationToken)
                   ?? throw new PrivacyRequestException("There is no such member.");
        if (user.Role == Orgs.UserRole.Owner)
            throw new PrivacyRequestException($"{user.Name} is an owner: make them an admin or member on the Team page first.");
        if (user.Id == db.Tenant.UserId) throw new PrivacyRequestException("Another owner or admin must make a request about you.");
        if (await db.PrivacyRequests.AnyAsync(r => r.SubjectUserId == userId && (r.Status == PrivacyRequestStatus.Pending || r.Status == PrivacyRequestStatus.Approved),
                cancellationToken))
            throw new PrivacyRequestException("There is already an open request about this member.");
    }

    /// <summary>The pending request, with its grace period from now, and its audit row, saved.</summary>
    async Task<PrivacyRequest> AddAsync(Use60Db db, PrivacyRequestKind kind, string? email, Guid? userId, HttpContext? http, CancellationToken cancellationToken)
    {
        var (orgId, me) = (db.Tenant.OrgId!.Value, db.Tenant.UserId!.Value);
        var now = clock.GetUtcNow();
        var request = new PrivacyRequest
        {
            OrgId = orgId, Kind = kind, SubjectEmail = email, SubjectUserId = userId, Status = PrivacyRequestStatus.Pending, RequestedBy = me, RequestedAt = now,
            ExecuteAfter = now + GracePeriod,
        };
        db.PrivacyRequests.Add(request);
        object details = userId is null
            ? new { request = request.Id, kind = SnakeCase.ValueOf(kind) }
            : new { request = request.Id, kind = SnakeCase.ValueOf(kind), subject = "member" };
        audit.Record(db, AuditEvents.PrivacyRequestCreated, AuditSeverity.Medium, orgId, me, details, http);
        await db.SaveChangesAsync(cancellationToken);
        return request;
    }

    /// <summary>Approves or rejects a pending request: only an owner or admin other than the one who asked (audited).</summary>
    public async Task DecideAsync(Use60Db db, Guid requestId, bool approve, HttpContext? http, CancellationToken cancellationToken)
    {
        var (orgId, me) = (db.Tenant.OrgId!.Value, db.Tenant.UserId!.Value);
        var request = await db.PrivacyRequests.AsNoTracking().SingleOrDefaultAsync(r => r.Id == requestId, cancellationToken)
                      ?? throw new PrivacyRequestException("There is no such request.");
        if (request.Status != PrivacyRequestStatus.Pending) throw new PrivacyRequestException("That request has already been decided.");
        if (!request.IsErasure) throw new PrivacyRequestException("Access and portability requests need no approval: they are answered with an export.");
        if (request.RequestedBy == me)
            throw new PrivacyRequestException("Another owner or admin must decide this request: nobody approves their own erasure request.");
        // Decided once, whoever clicks at the same moment: only a request still pending changes.
        var now = clock.GetUtcNow();
        var status = approve ? PrivacyRequestStatus.Approved : PrivacyRequestStatus.Rejected;
        var decided = await db.PrivacyRequests.Where(r => r.Id == requestId && r.Status == PrivacyRequestStatus.Pending)
            .ExecuteUpdateAsync(r => r.SetProperty(x => x.Status, status).SetProperty(x => x.DecidedBy, me).SetProperty(x => x.DecidedAt, now)
                .SetProperty(x => x.SubjectEmail, x => approve ? x.SubjectEmail : null), cancellationToken);
        if (decided == 0) throw new PrivacyRequestException("That request has already been decided.");
        audit.Record(db, approve ? AuditEvents.PrivacyRequestApproved : AuditEvents.PrivacyRequestRejected, AuditSeverity.Medium, orgId, me,
            new { request = request.Id }, http);
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>
    /// The privacy-requests job: every approved erasure past its grace period, executed once. A failure is recorded and tried at the next run;
    /// after <see cref="MaxAttempts"/> the request waits for an admin (Retry on the Privacy page), with a high-severity audit row that the
    /// security dashboard shows. Returns how many completed.
    /// </summary>
    public async Task<int> ExecuteDueAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        List<Guid> due;
        await using (var db = system.Open("find erasure requests due"))
            due = await db.PrivacyRequests.Where(r => r.Status == PrivacyRequestStatus.Approved && r.ExecuteAfter <= now && r.Attempts < MaxAttempts)
                .OrderBy(r => r.ExecuteAfter).Select(r => r.Id).ToListAsync(cancellationToken);
        var completed = 0;
        foreach (var id in due)
        {
            try
            {
                if (await ExecuteAsync(id, cancellationToken)) completed++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await FailedAsync(id, e, cancellationToken);
            }
        }
        return completed;
    }

    async Task FailedAsync(Guid id, Exception e, CancellationToken cancellationToken)
    {
        await using var db = system.Open("record why an erasure failed");
        var error = e.GetType().Name + ": " + e.Message;
        error = error[..Math.Min(error.Length, 500)];
        var request = await db.PrivacyRequests.SingleAsync(r => r.Id == id, cancellationToken);
        request.Error = error;
        request.Attempts++;
        if (request.Attempts < MaxAttempts)
        {
            logger.LogError(e, "Erasure request {RequestId} failed (attempt {Attempt} of {Max}); the next run tries it again", id, request.Attempts, MaxAttempts);
        }
        else
        {
            logger.LogError(e, "Erasure request {RequestId} failed {Max} times; it waits for an admin to retry it from the Privacy page", id, MaxAttempts);
            audit.Record(db, AuditEvents.ErasureFailed, AuditSeverity.High, request.OrgId, null, new { request = id, attempts = request.Attempts, error_kind = e.GetType().Name });
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>An admin asks for an erasure the job gave up on to be tried again (at its next run, with all its attempts; audited).</summary>
    public async Task RetryAsync(Use60Db db, Guid requestId, HttpContext? http, CancellationToken cancellationToken)
    {
        var (orgId, me) = (db.Tenant.OrgId!.Value, db.Tenant.UserId!.Value);
        var reset = await db.PrivacyRequests.Where(r => r.Id == requestId && r.Status == PrivacyRequestStatus.Approved && r.Attempts >= MaxAttempts)
            .ExecuteUpdateAsync(r => r.SetProperty(x => x.Attempts, 0), cancellationToken);
        if (reset == 0) throw new PrivacyRequestException("That request is not waiting for a retry.");
        audit.Record(db, AuditEvents.ErasureRetried, AuditSeverity.Medium, orgId, me, new { request = requestId }, http);
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>Executes one approved erasure, in one transaction (the stored files are deleted before their rows: <see cref="ContactDeletion"/>).</summary>
    async Task<bool> ExecuteAsync(Guid requestId, CancellationToken cancellationToken)
    {
        await using var db = system.Open("execute an erasure request");
        var request = await db.PrivacyRequests.AsNoTracking().SingleAsync(r => r.Id == requestId, cancellationToken);
        if (request.Status != PrivacyRequestStatus.Approved) return false;
        if (request.SubjectUserId is { } member) return await ExecuteForMemberAsync(db, request, member, cancellationToken);
        if (request.SubjectEmail is not { } email) return false;
        var orgId = request.OrgId;

        // Found by the email's blind index (emails are sealed at rest); an org without keys has no sealed contacts to find.
        var hash = await keyring.BlindIndexAsync(orgId, email, cancellationToken);
        var people = hash is null ? [] : await db.Contacts.AsNoTracking().Where(c => c.OrgId == orgId && c.EmailHash == hash)
            .Select(c => new { c.Id, c.FirstName, c.LastName }).ToListAsync(cancellationToken);
        var attendeeNames = await db.Database.SqlQuery<string>($"""
            SELECT DISTINCT a ->> 'name' AS "Value" FROM calendar_events e, jsonb_array_elements(e.attendees) a
            WHERE e.org_id = {orgId} AND lower(a ->> 'email') = {email} AND coalesce(a ->> 'name', '') <> ''
            """).ToListAsync(cancellationToken);
        // Names shorter than a first and last name are left: "Sam" alone would erase every Sam in the org.
        var names = people.Select(p => $"{p.FirstName} {p.LastName}".Trim()).Concat(attendeeNames).Where(n => n.Contains(' ') && n.Length >= 5)
            .Distinct(StringComparer.OrdinalIgnoreCase).ToList();

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // Their address goes in even without a contact row: an attendee nobody added as a contact still has meetings and recordings.
        var deleted = await contacts.DeleteAsync(db, orgId, [.. people.Select(p => p.Id)], [email], cancellationToken);
        var calendarEvents = await db.Database.ExecuteSqlAsync($"""
            UPDATE calendar_events e
            SET attendees = (SELECT coalesce(jsonb_agg(a), '[]'::jsonb) FROM jsonb_array_elements(e.attendees) a WHERE lower(a ->> 'email') IS DISTINCT FROM {email}),
                -- The address's blind index goes with it: keyed, but still a handle on the person.
                attendee_email_hashes = array_remove(e.attendee_email_hashes, {hash})
            WHERE e.org_id = {orgId} AND EXISTS (SELECT 1 FROM jsonb_array_elements(e.attendees) a WHERE lower(a ->> 'email') = {email})
            """, cancellationToken);
        var mentions = await ScrubAsync(db, orgId, [email, .. names], cancellationToken);
        var result = new ErasureResult(deleted.Contacts, deleted.Activities, deleted.Emails, deleted.TranscriptsRemoved, calendarEvents, deleted.Recordings,
            deleted.StoredObjects, mentions);
        await CompleteAsync(db, request, result, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Erasure request {RequestId} executed in org {OrgId}: {Contacts} contacts, {Recordings} recordings ({Objects} stored objects), " +
                              "{Mentions} other rows with a mention", requestId, orgId, result.Contacts, result.Recordings, result.StoredObjects, result.Mentions);
        return true;
    }

    /// <summary>Marks the request done, keeping counts and no address, and writes the tombstone: who asked, who approved, counts; never the data.</summary>
    async Task CompleteAsync(Use60Db db, PrivacyRequest request, ErasureResult result, CancellationToken cancellationToken)
    {
        var counts = JsonSerializer.Serialize(result, DbJson.Options);
        var now = clock.GetUtcNow();
        await db.PrivacyRequests.Where(r => r.Id == request.Id).ExecuteUpdateAsync(r => r.SetProperty(x => x.Status, PrivacyRequestStatus.Completed)
            .SetProperty(x => x.CompletedAt, now).SetProperty(x => x.SubjectEmail, (string?)null).SetProperty(x => x.Result, counts)
            .SetProperty(x => x.Error, (string?)null).SetProperty(x => x.Attempts, 0), cancellationToken);
        audit.Record(db, AuditEvents.ErasureExecuted, AuditSeverity.High, request.OrgId, null, new
        {
            request = request.Id, kind = SnakeCase.ValueOf(request.Kind), requested_by = request.RequestedBy, approved_by = request.DecidedBy,
            deleted = JsonNode.Parse(counts),
        });
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>
    /// A member's own rows: their copilot conversations (with what was recorded about them), preferences, sign-in links, sessions and
    /// second factor, calendar connection and calendar, pending previews, what use60 sent them and how they responded. The company's
    /// records they own (deals, contacts, activities, tasks, meetings, recordings) stay, under their anonymised user.
    /// </summary>
    static readonly string[] MemberTables =
    [
        "copilot_conversations", "copilot_messages", "copilot_tool_executions", "copilot_llm_calls", "copilot_usage", "user_preferences",
        "admin_login_links", "admin_sessions", "admin_totp", "admin_recovery_codes", "calendar_oauth_states", "calendar_sync_tokens", "calendar_connections",
        "calendar_events", "pending_actions", "proactive_engagement", "proactive_deliveries", "proactive_snoozes", "proactive_throttles",
        "slack_sandbox_views", "slack_sandbox_messages", "slack_outbox",
    ];

    public const string ErasedMember = "Erased member";

    async Task<bool> ExecuteForMemberAsync(Use60Db db, PrivacyRequest request, Guid userId, CancellationToken cancellationToken)
    {
        var orgId = request.OrgId;
        var user = await db.Users.AsNoTracking().SingleAsync(u => u.Id == userId && u.OrgId == orgId, cancellationToken);
        // Their address, full name and Slack id (in the inboxes' payloads and in <@U…> mentions).
        var needles = new[] { user.Email, user.Name.Contains(' ') && user.Name.Length >= 5 ? user.Name : null, user.SlackUserId }.OfType<string>().ToList();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var rows = 0;
        foreach (var table in MemberTables)
        {
            var sql = $"DELETE FROM \"{table}\" WHERE org_id = @org AND user_id = @user";   // table names from the list above
            rows += await db.Database.ExecuteSqlRawAsync(sql, [new NpgsqlParameter("org", orgId), new NpgsqlParameter("user", userId)], cancellationToken);
        }
        await db.Users.Where(u => u.Id == userId).ExecuteUpdateAsync(u => u.SetProperty(x => x.Name, ErasedMember).SetProperty(x => x.Email, (string?)null)
            .SetProperty(x => x.SlackUserId, (string?)null).SetProperty(x => x.Role, Orgs.UserRole.Member).SetProperty(x => x.UpdatedAt, clock.GetUtcNow()),
            cancellationToken);
        var mentions = needles.Count == 0 ? 0 : await ScrubAsync(db, orgId, needles, cancellationToken);
        await CompleteAsync(db, request, new ErasureResult(0, 0, 0, 0, 0, 0, 0, mentions, rows), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Erasure request {RequestId} executed in org {OrgId} for member {UserId}: {Rows} personal rows deleted, {Mentions} other rows " +
                              "with a mention; the user row stays, anonymised", request.Id, orgId, userId, rows, mentions);
        return true;
    }

    sealed record TextColumn(string Table, string Column, string Type, bool HasOrg);

    /// <summary>
    /// Replaces every mention of <paramref name="needles"/> (case-insensitive, whole words) with <see cref="Erased"/> in every text, text[] and
    /// JSON column of the org's rows: tables with an org_id, the Slack inbox's callbacks from the org's workspace and the webhook inbox's
    /// deliveries that were about the org (both kept 14 days). JSON keeps its structure: only its strings change (<c>jsonb_scrub_strings</c>,
    /// migration 0028). Read from the catalog, so a table added later is covered without a change here. Returns the rows changed.
    /// </summary>
    static async Task<int> ScrubAsync(Use60Db db, Guid orgId, IReadOnlyList<string> needles, CancellationToken cancellationToken)
    {
        var columns = await db.Database.SqlQuery<TextColumn>($"""
            SELECT c.table_name::text AS "Table", c.column_name::text AS "Column",
                   CASE WHEN c.data_type = 'ARRAY' THEN c.udt_name::text ELSE c.data_type::text END AS "Type",
                   EXISTS (SELECT 1 FROM information_schema.columns o WHERE o.table_schema = 'public' AND o.table_name = c.table_name AND o.column_name = 'org_id') AS "HasOrg"
            FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema = 'public' AND c.is_generated = 'NEVER'
              AND (c.data_type IN ('text', 'character varying', 'json', 'jsonb') OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar')))
              AND c.table_name NOT LIKE 'qrtz%' AND NOT (c.table_name = ANY({NotScrubbed}))
            ORDER BY 1, 2
            """).ToListAsync(cancellationToken);
        // Whole words only (\m, \M): erasing ann@x.com must not touch joann@x.com, nor "Jo Smith" turn "Jo Smithson" into "[erased]son".
        var pattern = Words(needles);
        // JSON's text form escapes quotes and backslashes: the rows to look at are found by either spelling.
        var jsonPattern = Words([.. needles, .. needles.Select(n => JsonSerializer.Serialize(n)[1..^1])]);
        var changed = 0;
        foreach (var column in columns)
        {
            var whose = column.HasOrg ? "org_id = @org"
                : column.Table == "slack_inbox" ? "team_id = (SELECT slack_team_id FROM orgs WHERE id = @org)"
                : null;
            if (whose is null) continue;   // a table with no owner to tell by: nothing of one org's to scrub there
            var target = $"\"{column.Column}\"";
            var (replaced, found) = column.Type switch
            {
                "jsonb" => ($"jsonb_scrub_strings({target}, @pattern, @erased)", $"{target}::text ~* @json"),
                "json" => ($"jsonb_scrub_strings({target}::jsonb, @pattern, @erased)::json", $"{target}::text ~* @json"),
                "_text" or "_varchar" => ($"(SELECT array_agg(regexp_replace(x, @pattern, @erased, 'gi') ORDER BY i) FROM unnest({target}) WITH ORDINALITY AS u (x, i))",
                    $"array_to_string({target}, ' ') ~* @pattern"),
                _ => ($"regexp_replace({target}, @pattern, @erased, 'gi')", $"{target} ~* @pattern"),
            };
            var sql = $"UPDATE \"{column.Table}\" SET {target} = {replaced} WHERE {found} AND {whose}";   // names from the catalog
            changed += await db.Database.ExecuteSqlRawAsync(sql, [new NpgsqlParameter("pattern", pattern), new NpgsqlParameter("json", jsonPattern),
                new NpgsqlParameter("erased", Erased), new NpgsqlParameter("org", orgId)], cancellationToken);
        }
        return changed;
    }

    static string Words(IEnumerable<string> needles) => @"\m(?:" + string.Join('|', needles.Distinct().Select(Escape)) + @")\M";

    /// <summary>A literal for a PostgreSQL regular expression: every character that means something there is escaped.</summary>
    static string Escape(string literal)
    {
        var escaped = new StringBuilder(literal.Length * 2);
        foreach (var c in literal)
        {
            if (@"\.^$|?*+()[]{}".Contains(c)) escaped.Append('\\');
            escaped.Append(c);
        }
        return escaped.ToString();
    }
}

/// <summary>Hourly: approved erasures past their grace period are executed (<see cref="PrivacyRequests.ExecuteDueAsync"/>).</summary>
[DisallowConcurrentExecution]
public sealed class PrivacyRequestsJob(PrivacyRequests requests) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await requests.ExecuteDueAsync(cancellationToken);
}
