using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Calendar;
using Use60.Crm;
using Use60.Data;
using Use60.Orgs;
using Use60.Proactive;
using Use60.Recordings;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>
/// The notetaker from a calendar meeting to the rep's follow-up pack, on real parts: PostgreSQL, two app replicas, the fake
/// MeetingBaaS and the provider's media on 127.0.0.1, the tests' s3rver as the store.
/// </summary>
public sealed class NotetakerEndToEndTests : IAsyncLifetime
{
    const long Video = 6 * 1024 * 1024 + 12_345, Audio = 800_000;
    // Near real time: s3rver judges the presigned links by its own clock.
    readonly FakeTimeProvider clock = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
    readonly WebApplication media = LoopbackServer.Create();
    Uri mediaUrl = null!;
    TestDatabase database = null!;
    FakeMeetingBaas meetingBaas = null!;
    S3Test s3 = null!;
    Use60App app = null!, replica = null!;

    public async Task InitializeAsync()
    {
        GeneratedMedia.MapServer(media);
        mediaUrl = await LoopbackServer.StartAsync(media);
        database = await TestDatabase.CreateAsync();
        meetingBaas = await FakeMeetingBaas.StartAsync();
        s3 = await S3Test.CreateAsync();
        var store = S3Test.Options(s3.Bucket);
        var settings = new Dictionary<string, string?>(meetingBaas.Settings)
        {
            ["S3:Region"] = store.Region, ["S3:Bucket"] = store.Bucket, ["S3:EndpointUrl"] = store.EndpointUrl,
            ["S3:AccessKeyId"] = store.AccessKeyId, ["S3:SecretAccessKey"] = store.SecretAccessKey,
        };
        app = new Use60App(database, settings, clock);
        replica = new Use60App(database, settings, clock);
        _ = app.BaseAddress;
    }

    public async Task DisposeAsync()
    {
        await replica.DisposeAsync();
        await app.DisposeAsync();
        await s3.DisposeAsync();
        await meetingBaas.DisposeAsync();
        await database.DisposeAsync();
        await media.DisposeAsync();
    }

    [Fact]
    public async Task A_calendar_meeting_gets_one_bot_its_recording_is_kept_and_its_transcript_brings_one_follow_up_pack()
    {
        // An org with auto-join on; its rep has a Meet call with a customer on a deal in 8 minutes.
        var org = await TestData.CreateOrgAsync(app.Services, "End to end", UserRole.Owner, UserRole.Member);
        var rep = org[1];
        await using (var db = app.Service<SystemDb>().Open("test"))
            await db.OrgSettings.Where(s => s.OrgId == org.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.NotetakerAutoJoin, true));
        var link = "https://meet.google.com/" + string.Concat(Guid.NewGuid().ToString("N").Where(char.IsLetter).Concat("abcdefghij").Take(3)) + "-pilo-tes";
        var calendarEvent = await TestData.AsAsync(app.Services, rep, async db =>
        {
            var contact = new Contact { OrgId = rep.OrgId, UserId = rep.Id, FirstName = "Sarah", LastName = "Chen", Email = "sarah@techcorp.example" };
            var deal = new Deal { OrgId = rep.OrgId, UserId = rep.Id, Name = "TechCorp pilot", PrimaryContactId = contact.Id, Amount = 40_000 };
            var start = clock.GetUtcNow().AddMinutes(8);
            var meeting = new CalendarEvent
            {
                OrgId = rep.OrgId, UserId = rep.Id, ExternalId = "e2e-" + Guid.NewGuid().ToString("N"), Title = "TechCorp — Pilot planning",
                StartTime = start, EndTime = start.AddMinutes(30), ConferenceUrl = link, DealId = deal.Id,
                Attendees = [new Attendee { Email = rep.Email!, Self = true, ResponseStatus = "accepted" }, new Attendee { Email = contact.Email!, Name = "Sarah Chen" }],
            };
            db.AddRange(contact, deal, meeting);
            await db.SaveChangesAsync();
            return meeting;
        });

        // Two replicas, each running the auto-join job twice at once: one bot.
        await Task.WhenAll(AutoJoinAsync(app), AutoJoinAsync(replica), AutoJoinAsync(app), AutoJoinAsync(replica));
        var bot = Assert.Single(meetingBaas.BotsAt(link));
        var recordingId = bot.RecordingId;

        // MeetingBaaS reports the meeting recorded, twice (a retry of the same message): processed once.
        var transcript = meetingBaas.SetTranscript(bot.Id,
            ("Sarah Chen", 1, 6, "Our budget for this quarter is fixed, so the price per seat matters."),
            ("Alex Morgan", 7, 12, "We agreed to start the pilot with two warehouses in January."),
            ("Alex Morgan", 13, 18, "I'll send the security questionnaire answers by Friday."));
        var completed = new JsonObject
        {
            ["event"] = "bot.completed",
            ["data"] = new JsonObject
            {
                ["bot_id"] = bot.Id, ["video"] = new Uri(mediaUrl, $"media/{Video}?seed=3").ToString(), ["audio"] = new Uri(mediaUrl, $"media/{Audio}?seed=4").ToString(),
                ["transcription"] = transcript, ["transcription_provider"] = "gladia", ["participants"] = new JsonArray(), ["speakers"] = new JsonArray(),
                ["joined_at"] = calendarEvent.StartTime.ToString("O"), ["exited_at"] = calendarEvent.EndTime.ToString("O"),
            },
            ["extra"] = new JsonObject { ["recording_id"] = recordingId.ToString() },
        };
        using var client = app.Client();
        var delivery = "msg_" + Guid.NewGuid().ToString("N");
        Assert.Equal("handled", await WebhookAsync(client, completed, delivery));
        Assert.Equal("duplicate", await WebhookAsync(client, completed, delivery));

        // The upload queue keeps video and audio in the store under the recording's keys.
        Assert.Equal(new UploadRun(1, 0, 0), await app.Service<RecordingUploads>().RunAsync(default));
        await using var check = app.Service<SystemDb>().Open("test");
        var recording = await check.Recordings.AsNoTracking().SingleAsync(r => r.Id == recordingId);
        Assert.Equal((S3UploadStatus.Complete, Video, Audio), (recording.S3UploadStatus, recording.VideoBytes, recording.AudioBytes));
        Assert.Equal(Video, (await s3.Client.GetObjectMetadataAsync(s3.Bucket, RecordingKeys.For(org.Id, rep.Id, recordingId, RecordingKeys.Video))).ContentLength);
        Assert.Equal(Audio, (await s3.Client.GetObjectMetadataAsync(s3.Bucket, RecordingKeys.For(org.Id, rep.Id, recordingId, RecordingKeys.Audio))).ContentLength);

        // The transcript is on the meeting, linked to the recording; the rep has one follow-up pack, with Confirm buttons.
        var meeting = await check.Meetings.AsNoTracking().SingleAsync(m => m.RecordingId == recordingId);
        Assert.Equal((MeetingSource.Notetaker, calendarEvent.Id, 3), (meeting.SourceType, meeting.CalendarEventId, meeting.Transcript!.Count));
        var pack = Assert.Single(await check.SlackOutbox.AsNoTracking().Where(m => m.UserId == rep.Id && m.Source.StartsWith("follow-up pack")).ToListAsync());
        var previews = await check.PendingActions.AsNoTracking().Where(p => p.UserId == rep.Id).ToListAsync();
        Assert.Contains(previews, p => p.Action == "send_email" && p.Preview.Contains("sarah@techcorp.example"));
        Assert.Contains(previews, p => p.Action == "create_task" && p.Preview.Contains("Send the security questionnaire answers by Friday"));
        Assert.All(previews, p => Assert.Contains(p.Id.ToString(), pack.Message));
        Assert.Contains("\"Confirm\"", pack.Message);

        // Its "Watch the recording" gets fresh 15-minute links to the kept video, which play.
        var dm = await SandboxDm.OfAsync(app, rep);
        var message = await dm.MessageAsync(NotetakerSlack.PlayAction, "the follow-up pack");
        Assert.True(await dm.ClickAsync(message, "recording:" + recordingId, NotetakerSlack.PlayAction, recordingId.ToString()));
        var links = await dm.MessageAsync("Watch the video", "the recording's links");
        var text = JsonNode.Parse(links.Message)!["text"]!.GetValue<string>();
        var video = System.Text.RegularExpressions.Regex.Match(text, @"<(http[^|>]+)\|Watch the video>").Groups[1].Value;
        using var download = new HttpClient();
        Assert.Equal(Video, (await download.GetByteArrayAsync(WebUtility.HtmlDecode(video))).LongLength);
    }

    static Task<NotetakerAutoJoin.Run> AutoJoinAsync(Use60App app) => ActivatorUtilities.CreateInstance<NotetakerAutoJoin>(app.Services).RunAsync(default);

    async Task<string> WebhookAsync(HttpClient client, JsonObject payload, string delivery)
    {
        var response = await client.SendAsync(FakeMeetingBaas.Webhook(payload, delivery, clock.GetUtcNow()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outcome"]!;
    }
}
