using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Recordings;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>One database, fake MeetingBaaS and Gladia on 127.0.0.1, the tests' s3rver as the store, the app on a controllable clock.</summary>
public sealed class TranscriptionFixture : IAsyncLifetime
{
    /// <summary>Near real time (s3rver checks the signed links' times against its own clock), in whole seconds as PostgreSQL keeps them.</summary>
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
    public TestDatabase Database { get; private set; } = null!;
    public FakeMeetingBaas MeetingBaas { get; private set; } = null!;
    public FakeGladia Gladia { get; private set; } = null!;
    public S3Test S3 { get; private set; } = null!;
    public Use60App App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        MeetingBaas = await FakeMeetingBaas.StartAsync();
        Gladia = await FakeGladia.StartAsync();
        S3 = await S3Test.CreateAsync();
        var s3 = S3Test.Options(S3.Bucket);
        var settings = new Dictionary<string, string?>
        {
            ["S3:Region"] = s3.Region, ["S3:Bucket"] = s3.Bucket, ["S3:EndpointUrl"] = s3.EndpointUrl, ["S3:AccessKeyId"] = s3.AccessKeyId,
            ["S3:SecretAccessKey"] = s3.SecretAccessKey, ["Privacy:MasterKey"] = Convert.ToBase64String(Enumerable.Range(11, 32).Select(i => (byte)i).ToArray()),
        };
        foreach (var (key, value) in MeetingBaas.Settings.Concat(Gladia.Settings)) settings[key] = value;
        App = new Use60App(Database, settings, Clock);
        _ = App.BaseAddress;
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await S3.DisposeAsync();
        await Gladia.DisposeAsync();
        await MeetingBaas.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>The two transcription paths (MeetingBaaS's transcript in bot.completed, Gladia of the stored audio) and the meeting↔recording link.</summary>
public sealed class TranscriptionTests(TranscriptionFixture fixture) : IClassFixture<TranscriptionFixture>
{
    FakeMeetingBaas MeetingBaas => fixture.MeetingBaas;
    FakeGladia Gladia => fixture.Gladia;
    DateTimeOffset Now => fixture.Clock.GetUtcNow();

    [Fact]
    public async Task MeetingBaaS_bot_completed_brings_its_transcript_onto_the_meeting_linked_to_the_recording_once_however_often_it_comes()
    {
        var rep = await RepAsync();
        var recording = await RecordingAsync(rep, "TechCorp — Pricing review", S3UploadStatus.None);
        var link = MeetingBaas.SetTranscript(recording.BotId!, ("Sarah Chen", 1.5, 4.2, "Our budget is fixed for this quarter."),
            ("Alex Morgan", 5.0, 7.5, "Then annual billing may help."));
        using var client = fixture.App.Client();
        var completed = Completed(recording, link);

        var deliveryId = "msg_" + Guid.NewGuid().ToString("N");
        Assert.Equal("handled", await SendAsync(client, completed, deliveryId));
        var firstAt = Now;
        fixture.Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("duplicate", await SendAsync(client, completed, deliveryId));

        var meeting = Assert.Single(await MeetingsAsync(recording.Id));
        Assert.Equal((MeetingSource.Notetaker, "meetingbaas", recording.Id, firstAt), (meeting.SourceType, meeting.TranscriptProvider, meeting.RecordingId, meeting.TranscriptAt));
        Assert.Equal((rep.Id, "TechCorp — Pricing review", recording.JoinedAt!.Value), (meeting.OwnerUserId, meeting.Title, meeting.StartTime));
        Assert.Equal(["Sarah Chen", "Alex Morgan"], meeting.Transcript!.Select(s => s.Speaker));
        Assert.Equal((1.5, 4.2), (meeting.Transcript![0].Start, meeting.Transcript[0].End));
        Assert.Contains("Sarah Chen: Our budget is fixed for this quarter.", meeting.TranscriptText);
        var after = await RecordingAsync(recording.Id);
        Assert.Equal((meeting.Id, "meetingbaas", RecordingStatus.Completed), (after.TranscriptMeetingId, after.TranscriptionProvider, after.Status));
        var inbox = await SystemAsync(db => db.Database.SqlQuery<InboxRow>($"""
            SELECT deliveries AS "Deliveries", attempts AS "Attempts", outcome AS "Outcome" FROM webhook_inbox WHERE delivery_id = {deliveryId}
            """).SingleAsync());
        Assert.Equal(new InboxRow(2, 1, "handled"), inbox);

        // MeetingBaaS sends the final webhook again (a new message) after the link expired: a fresh link comes from the bot's
        // details, and the transcript stays on the one meeting, no longer new.
        MeetingBaas.TranscriptLink(recording.BotId!);
        Assert.Equal("handled", await SendAsync(client, completed));
        Assert.Single(await MeetingsAsync(recording.Id));
        Assert.Contains(MeetingBaas.Calls, c => c.Method == "GET" && c.Path == $"/v2/bots/{recording.BotId}");
        var again = await fixture.App.Service<MeetingTranscripts>().StoreAsync(new TranscriptArrival(rep.OrgId, rep.Id, MeetingSource.Notetaker,
            RecordingTranscription.SourceRef(recording.Id), "meetingbaas", "x", Now, null, null, null, meeting.Transcript!, recording.Id), default);
        Assert.Equal((meeting.Id, false), (again.MeetingId, again.IsFirst));
        // The artifact's link is signed for MeetingBaaS's storage: our API key never goes there.
        Assert.NotEmpty(MeetingBaas.ArtifactRequests);
        Assert.All(MeetingBaas.ArtifactRequests, r => Assert.False(r.WithApiKey));
    }

    [Fact]
    public async Task With_Gladia_a_completed_copy_is_transcribed_from_a_signed_audio_link_and_its_signed_callback_stores_the_transcript_once()
    {
        var rep = await RepAsync();
        var recording = await StoredAsync(rep, "Globex — Discovery");

        await HookAsync(recording.Id);
        var job = Assert.Single(Gladia.JobsFor(recording.Id));
        // Gladia really downloaded the stored audio, through a link to the store, with diarization on and a callback to us.
        Assert.Equal(Audio(recording.Id), job.Audio);
        Assert.Contains(S3Test.Endpoint.TrimEnd('/'), job.AudioUrl);
        Assert.True(job.Request["diarization"]!.GetValue<bool>());
        Assert.Equal((GladiaWebhook.Path, "POST"), (job.CallbackUrl.AbsolutePath, job.Request["callback_config"]!["method"]!.GetValue<string>()));
        Assert.StartsWith("http://127.0.0.1:5175/webhooks/gladia?recording=" + recording.Id, job.CallbackUrl.ToString());
        var requested = await RecordingAsync(recording.Id);
        Assert.Equal(("gladia", job.Id, Now), (requested.TranscriptionProvider, requested.TranscriptionJobId, requested.TranscriptionRequestedAt));

        // The hook again (another replica, a retry): no second job.
        await HookAsync(recording.Id);
        Assert.Single(Gladia.JobsFor(recording.Id));

        using var client = fixture.App.Client();
        Gladia.Complete(job, (0, 0.4, 3.0, "Security review first."), (1, 3.5, 6.0, "Then we talk pricing."));
        // A callback without the token, or with another recording's, is refused and audited; nothing is stored.
        var token = System.Web.HttpUtility.ParseQueryString(job.CallbackUrl.Query)["token"]!;
        var forged = $"{GladiaWebhook.Path}?recording={recording.Id}&token={token[..^2]}xx";
        var otherRecording = $"{GladiaWebhook.Path}?recording={Guid.NewGuid()}&token={token}";
        foreach (var (path, reason) in new[] { ($"{GladiaWebhook.Path}?recording={recording.Id}", "missing_token"), (forged, "bad_token"), (otherRecording, "bad_token") })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(FakeGladia.Callback(job, pathAndQuery: path))).StatusCode);
            Assert.Contains(await AuditAsync(), a => a.Details.Contains(reason) && a.Details.Contains(GladiaWebhook.Path) && a.OccurredAt == Now);
        }
        Assert.Empty(await MeetingsAsync(recording.Id));

        Assert.Equal("handled", await CallbackAsync(client, job));
        Assert.Equal("duplicate", await CallbackAsync(client, job));
        var meeting = Assert.Single(await MeetingsAsync(recording.Id));
        Assert.Equal(("gladia", recording.Id, "Globex — Discovery"), (meeting.TranscriptProvider, meeting.RecordingId, meeting.Title));
        Assert.Equal(["Speaker 1", "Speaker 2"], meeting.Transcript!.Select(s => s.Speaker));
        Assert.Equal("Speaker 1: Security review first.\nSpeaker 2: Then we talk pricing.", meeting.TranscriptText);
        Assert.Equal(meeting.Id, (await RecordingAsync(recording.Id)).TranscriptMeetingId);

        // A callback for a job that is not the recording's (an old one, or someone else's id) is acknowledged and ignored.
        var stranger = new FakeGladia.Job { Id = Guid.NewGuid().ToString(), Request = job.Request };
        Assert.Equal("ignored", await CallbackAsync(client, stranger));
    }

    [Fact]
    public async Task A_Gladia_failure_is_kept_on_the_recording_and_no_meeting_is_made()
    {
        var rep = await RepAsync();
        var recording = await StoredAsync(rep, "Initech — Renewal");
        await HookAsync(recording.Id);
        var job = Assert.Single(Gladia.JobsFor(recording.Id));
        using var client = fixture.App.Client();
        Assert.Equal("handled", await CallbackAsync(client, job, "transcription.error"));
        Assert.Contains("audio could not be decoded", (await RecordingAsync(recording.Id)).TranscriptionError);
        Assert.Empty(await MeetingsAsync(recording.Id));
    }

    [Fact]
    public async Task The_meeting_and_its_recording_are_linked_whichever_of_the_transcript_and_the_copy_comes_first()
    {
        var rep = await RepAsync();
        using var client = fixture.App.Client();

        // Transcript first: the meeting is made linked to the recording while its copy is still pending; the copy then finds a
        // transcript and asks Gladia for none.
        var early = await RecordingAsync(rep, "Transcript first", S3UploadStatus.Pending);
        Assert.Equal("handled", await SendAsync(client, Completed(early, MeetingBaas.SetTranscript(early.BotId!, ("Ann", 0, 2, "Hello.")))));
        var meeting = Assert.Single(await MeetingsAsync(early.Id));
        Assert.Equal(early.Id, meeting.RecordingId);
        await CompleteCopyAsync(early);
        await HookAsync(early.Id);
        Assert.Empty(Gladia.JobsFor(early.Id));
        Assert.Equal(meeting.Id, (await RecordingAsync(early.Id)).TranscriptMeetingId);

        // Copy first: no meeting yet, so nothing to link until Gladia's transcript makes it, linked.
        var late = await StoredAsync(rep, "Copy first");
        await HookAsync(late.Id);
        Assert.Empty(await MeetingsAsync(late.Id));
        Assert.Null((await RecordingAsync(late.Id)).TranscriptMeetingId);
        var job = Assert.Single(Gladia.JobsFor(late.Id));
        Gladia.Complete(job, (0, 0, 2, "Hi."));
        Assert.Equal("handled", await CallbackAsync(client, job));
        var lateMeeting = Assert.Single(await MeetingsAsync(late.Id));
        Assert.Equal((late.Id, lateMeeting.Id), (lateMeeting.RecordingId, (await RecordingAsync(late.Id)).TranscriptMeetingId));

        // A meeting of the recording that was stored unlinked (a path that did not know the recording) is linked when the copy completes.
        var unlinked = await StoredAsync(rep, "Unlinked");
        var stored = await fixture.App.Service<MeetingTranscripts>().StoreAsync(new TranscriptArrival(rep.OrgId, rep.Id, MeetingSource.Notetaker,
            RecordingTranscription.SourceRef(unlinked.Id), "meetingbaas", "Unlinked", Now, null, null, null,
            [new TranscriptSegment { Speaker = "Bo", Text = "Hey." }]), default);
        Assert.Null(Assert.Single(await MeetingsAsync(unlinked.Id)).RecordingId);
        await HookAsync(unlinked.Id);
        Assert.Equal(unlinked.Id, Assert.Single(await MeetingsAsync(unlinked.Id)).RecordingId);
        Assert.Equal(stored.MeetingId, (await RecordingAsync(unlinked.Id)).TranscriptMeetingId);
    }

    [Fact]
    public async Task A_Gladia_request_that_fails_is_made_again_5_and_15_minutes_later_and_a_refusal_is_not_repeated()
    {
        var rep = await RepAsync();
        var recording = await StoredAsync(rep, "Umbrella — Kickoff");
        var start = Now;

        Gladia.UnavailableFor(2);
        await HookAsync(recording.Id);
        var first = await RecordingAsync(recording.Id);
        Assert.Empty(Gladia.JobsFor(recording.Id));
        Assert.Contains("503", first.TranscriptionError);
        Assert.Equal((1, start.AddMinutes(5)), (first.TranscriptionAttempts, first.TranscriptionCheckAt));

        await RetriesAt(start.AddMinutes(4)).CheckDueAsync(default);   // not due yet
        Assert.Equal(1, (await RecordingAsync(recording.Id)).TranscriptionAttempts);
        await RetriesAt(start.AddMinutes(5)).CheckDueAsync(default);   // Gladia still down
        var second = await RecordingAsync(recording.Id);
        Assert.Equal((2, start.AddMinutes(20)), (second.TranscriptionAttempts, second.TranscriptionCheckAt));
        await Task.WhenAll(RetriesAt(start.AddMinutes(20)).CheckDueAsync(default), RetriesAt(start.AddMinutes(20)).CheckDueAsync(default)); // two replicas

        var job = Assert.Single(Gladia.JobsFor(recording.Id));
        var asked = await RecordingAsync(recording.Id);
        Assert.Equal((3, job.Id, (string?)null), (asked.TranscriptionAttempts, asked.TranscriptionJobId, asked.TranscriptionError));
        Assert.Equal(start.AddMinutes(20) + RecordingTranscription.CallbackWait, asked.TranscriptionCheckAt);
        Gladia.Complete(job, (0, 0, 2, "Kickoff notes."));
        using var client = fixture.App.Client();
        Assert.Equal("handled", await CallbackAsync(client, job));
        Assert.Single(await MeetingsAsync(recording.Id));
        Assert.Null((await RecordingAsync(recording.Id)).TranscriptionCheckAt);

        // Refused (Gladia cannot read the file): the reason is kept and it is not asked again, however late the job runs.
        var refused = await StoredAsync(rep, "Umbrella — Refused");
        Gladia.RefuseNext();
        await HookAsync(refused.Id);
        await RetriesAt(start.AddHours(3)).CheckDueAsync(default);
        var kept = await RecordingAsync(refused.Id);
        Assert.Equal((1, (DateTimeOffset?)null), (kept.TranscriptionAttempts, kept.TranscriptionCheckAt));
        Assert.Contains("not a supported media file", kept.TranscriptionError);
        Assert.Empty(Gladia.JobsFor(refused.Id));
    }

    [Fact]
    public async Task A_Gladia_job_whose_callback_never_comes_is_read_an_hour_later_and_one_unfinished_after_a_day_is_given_up()
    {
        var rep = await RepAsync();
        var start = Now;
        var lost = await StoredAsync(rep, "Hooli — Callback lost");
        var slow = await StoredAsync(rep, "Hooli — Never finishes");
        await HookAsync(lost.Id);
        await HookAsync(slow.Id);
        Gladia.Complete(Assert.Single(Gladia.JobsFor(lost.Id)), (0, 0, 3, "Budget approved."));

        await RetriesAt(start.AddMinutes(59)).CheckDueAsync(default);
        Assert.Empty(await MeetingsAsync(lost.Id));
        await RetriesAt(start.AddHours(1)).CheckDueAsync(default);
        var meeting = Assert.Single(await MeetingsAsync(lost.Id));
        Assert.Equal(("gladia", "Speaker 1: Budget approved."), (meeting.TranscriptProvider, meeting.TranscriptText));
        Assert.Null((await RecordingAsync(lost.Id)).TranscriptionCheckAt);

        // Still processing: looked at again each hour, then given up after a day, with the reason kept.
        Assert.Equal(start.AddHours(2), (await RecordingAsync(slow.Id)).TranscriptionCheckAt);
        await RetriesAt(start.AddDays(1)).CheckDueAsync(default);
        var given = await RecordingAsync(slow.Id);
        Assert.Equal((DateTimeOffset?)null, given.TranscriptionCheckAt);
        Assert.Contains("had not finished", given.TranscriptionError);
        Assert.Empty(await MeetingsAsync(slow.Id));
    }

    [Fact]
    public async Task Webhook_deliveries_and_slack_callbacks_older_than_14_days_are_deleted_and_newer_ones_kept_to_recognise_repeats()
    {
        var tag = Guid.NewGuid().ToString("N");
        const string Empty = "{}";
        await SystemAsync(db => db.Database.ExecuteSqlAsync($"""
            INSERT INTO webhook_inbox (provider, delivery_id, event, payload, received_at, processed_at, outcome) VALUES
                ('meetingbaas', {"old-" + tag}, 'bot.completed', {Empty}::jsonb, {Now.AddDays(-15)}, {Now.AddDays(-15)}, 'handled'),
                ('meetingbaas', {"failed-" + tag}, 'bot.completed', {Empty}::jsonb, {Now.AddDays(-20)}, NULL, NULL),
                ('gladia', {"recent-" + tag}, 'transcription.success', {Empty}::jsonb, {Now.AddDays(-13)}, {Now.AddDays(-13)}, 'handled')
            """));
        var inbox = ActivatorUtilities.CreateInstance<WebhookInbox>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(Now));
        Assert.True(await inbox.DeleteOldAsync(default) >= 2);
        var left = await SystemAsync(db => db.Database.SqlQuery<string>($"SELECT delivery_id AS \"Value\" FROM webhook_inbox WHERE delivery_id LIKE {"%" + tag}").ToListAsync());
        Assert.Equal(["recent-" + tag], left);

        // Slack's callbacks hold what people typed: the same 14 days.
        await SystemAsync(db => db.Database.ExecuteSqlAsync($"""
            INSERT INTO slack_inbox (dedupe_key, kind, payload, received_at) VALUES
                ({"old-" + tag}, 'event', {Empty}::jsonb, {Now.AddDays(-15)}), ({"recent-" + tag}, 'event', {Empty}::jsonb, {Now.AddDays(-13)})
            """));
        var slack = ActivatorUtilities.CreateInstance<Slack.SlackInbox>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(Now));
        Assert.True(await slack.DeleteOldAsync(WebhookInbox.Kept, default) >= 1);
        var kept = await SystemAsync(db => db.Database.SqlQuery<string>($"SELECT dedupe_key AS \"Value\" FROM slack_inbox WHERE dedupe_key LIKE {"%" + tag}").ToListAsync());
        Assert.Equal(["recent-" + tag], kept);
    }

    RecordingTranscription RetriesAt(DateTimeOffset instant) =>
        ActivatorUtilities.CreateInstance<RecordingTranscription>(fixture.App.Services, (TimeProvider)new FakeTimeProvider(instant));

    sealed record InboxRow(int Deliveries, int Attempts, string? Outcome);

    static JsonObject Completed(Recording recording, string transcriptLink) => new()
    {
        ["event"] = "bot.completed",
        ["data"] = new JsonObject
        {
            ["bot_id"] = recording.BotId, ["event_id"] = null, ["participants"] = new JsonArray(), ["speakers"] = new JsonArray(),
            ["video"] = "https://media.meetingbaas.example/video.mp4?X-Amz-Signature=abc", ["audio"] = "https://media.meetingbaas.example/audio.flac?X-Amz-Signature=def",
            ["transcription"] = transcriptLink, ["transcription_provider"] = "gladia", ["data_deleted"] = false,
            ["joined_at"] = "2026-11-23T10:00:00Z", ["exited_at"] = "2026-11-23T10:30:00Z",
        },
        ["extra"] = new JsonObject { ["recording_id"] = recording.Id.ToString() },
    };

    async Task<string> SendAsync(HttpClient client, JsonObject payload, string? deliveryId = null)
    {
        var response = await client.SendAsync(FakeMeetingBaas.Webhook(payload, deliveryId, Now));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outcome"]!;
    }

    static async Task<string> CallbackAsync(HttpClient client, FakeGladia.Job job, string eventName = "transcription.success")
    {
        var response = await client.SendAsync(FakeGladia.Callback(job, eventName));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outcome"]!;
    }

    /// <summary>What the upload queue calls after it marks a copy complete.</summary>
    async Task HookAsync(Guid recordingId)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        foreach (var hook in scope.ServiceProvider.GetServices<IRecordingStored>()) await hook.StoredAsync(recordingId, default);
    }

    async Task<AppUser> RepAsync() => (await TestData.CreateOrgAsync(fixture.App.Services, "Transcripts " + Guid.NewGuid().ToString("N")[..6],
        UserRole.Owner, UserRole.Member))[1];

    /// <summary>A finished bot's recording (joined ten minutes ago).</summary>
    async Task<Recording> RecordingAsync(AppUser rep, string title, S3UploadStatus upload)
    {
        var name = Guid.NewGuid().ToString("N")[..10];
        var recording = new Recording
        {
            OrgId = rep.OrgId, UserId = rep.Id, Source = RecordingSource.Command, Title = title, MeetingUrl = $"https://meet.google.com/{name}",
            MeetingKey = $"meet.google.com/{name}", Platform = MeetingPlatform.Meet, BotId = "bot-" + name, BotName = "use60 Notetaker (recording)",
            ChatNotice = "This meeting is recorded.", Status = upload == S3UploadStatus.None ? RecordingStatus.Joined : RecordingStatus.Completed,
            ConsentBasis = ConsentBasis.RepChoice, ConsentRecordedAt = Now, JoinedAt = Now.AddMinutes(-10), S3UploadStatus = upload,
        };
        await SystemAsync(db =>
        {
            db.Recordings.Add(recording);
            return db.SaveChangesAsync();
        });
        return recording;
    }

    /// <summary>A recording whose audio is in the store (s3rver), its copy complete.</summary>
    async Task<Recording> StoredAsync(AppUser rep, string title)
    {
        var recording = await RecordingAsync(rep, title, S3UploadStatus.Uploading);
        await CompleteCopyAsync(recording);
        return await RecordingAsync(recording.Id);
    }

    async Task CompleteCopyAsync(Recording recording)
    {
        var key = RecordingKeys.For(recording.OrgId, recording.UserId, recording.Id, RecordingKeys.Audio);
        var audio = Audio(recording.Id);
        await fixture.S3.Store.UploadAsync(key, new MemoryStream(audio), "audio/mpeg", default);
        await SystemAsync(db => db.Recordings.Where(r => r.Id == recording.Id).ExecuteUpdateAsync(r => r
            .SetProperty(x => x.S3UploadStatus, S3UploadStatus.Complete).SetProperty(x => x.AudioKey, key).SetProperty(x => x.AudioBytes, audio.Length)));
    }

    /// <summary>A recording's audio: bytes of its own, so a download is known to be of the right object.</summary>
    static byte[] Audio(Guid recordingId) => [.. Enumerable.Range(0, 40_000).Select(i => (byte)(recordingId.ToByteArray()[i % 16] ^ i))];

    Task<Recording> RecordingAsync(Guid id) => SystemAsync(db => db.Recordings.AsNoTracking().SingleAsync(r => r.Id == id));

    Task<List<Meeting>> MeetingsAsync(Guid recordingId) => SystemAsync(db => db.Meetings.AsNoTracking()
        .Where(m => m.SourceRef == RecordingTranscription.SourceRef(recordingId) || m.RecordingId == recordingId).ToListAsync());

    Task<List<SecurityAuditEvent>> AuditAsync() => SystemAsync(db => db.SecurityAuditLog.AsNoTracking()
        .Where(a => a.EventType == AuditEvents.NotetakerWebhookRejected).ToListAsync());

    async Task<T> SystemAsync<T>(Func<Use60Db, Task<T>> work)
    {
        await using var db = fixture.App.Service<SystemDb>().Open("test");
        return await work(db);
    }
}
