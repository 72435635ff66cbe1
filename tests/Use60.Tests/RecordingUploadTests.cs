using System.Collections.Concurrent;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Use60.Data;
using Use60.Orgs;
using Use60.Recordings;
using Use60.Recordings.Pages;
using Use60.Security;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>
/// The upload queue, end to end on real parts: recordings in PostgreSQL, the provider's media from a loopback HTTP server, the
/// copies in the tests' s3rver, time on a controllable clock.
/// </summary>
public sealed class RecordingUploadTests : IAsyncLifetime
{
    const long Video = 12 * 1024 * 1024 + 300_000, Audio = 1_500_000;
    readonly FakeTimeProvider clock = new(DateTimeOffset.Parse("2026-11-23T15:00:00Z"));
    readonly WebApplication media = LoopbackServer.Create();
    /// <summary>How many of its first requests each flaky file drops mid-file, how many it has had, and every one, in order.</summary>
    readonly ConcurrentDictionary<string, int> planned = new(), served = new();
    readonly ConcurrentQueue<string> requested = new();
    Uri mediaUrl = null!;
    TestDatabase database = null!;
    Use60App app = null!;
    S3Test s3 = null!;
    TestData.TestOrg org = null!;

    public async Task InitializeAsync()
    {
        // /flaky/{name}/{length}: its first planned[name] requests drop the connection after 7 MiB, the rest get the whole file.
        media.MapGet("/flaky/{name}/{length:long}", (string name, long length) =>
        {
            requested.Enqueue(name);
            var drop = served.AddOrUpdate(name, 1, (_, n) => n + 1) <= planned.GetValueOrDefault(name);
            return Results.Redirect($"/media/{length}?seed=7" + (drop ? "&dropAfter=7340032" : ""));
        });
        GeneratedMedia.MapServer(media);
        mediaUrl = await LoopbackServer.StartAsync(media);
        s3 = await S3Test.CreateAsync();
        database = await TestDatabase.CreateAsync();
        var options = S3Test.Options(s3.Bucket);
        app = new Use60App(database, new Dictionary<string, string?>
        {
            ["S3:Region"] = options.Region, ["S3:Bucket"] = options.Bucket, ["S3:EndpointUrl"] = options.EndpointUrl,
            ["S3:AccessKeyId"] = options.AccessKeyId, ["S3:SecretAccessKey"] = options.SecretAccessKey,
        }, clock);
        org = await TestData.CreateOrgAsync(app.Services, "Uploads", UserRole.Owner, UserRole.Member);
    }

    public async Task DisposeAsync()
    {
        await app.DisposeAsync();
        await database.DisposeAsync();
        await s3.DisposeAsync();
        await media.DisposeAsync();
    }

    async Task<Recording> RecordingAsync(string name, int dropFirst = 0, TimeSpan? mediaAge = null, AppUser? rep = null)
    {
        planned[name] = dropFirst;
        var recording = new Recording
        {
            OrgId = org.Id, UserId = (rep ?? org[1]).Id, Source = RecordingSource.Command, Title = "TechCorp — " + name,
            MeetingUrl = $"https://meet.google.com/{name}", MeetingKey = $"https://meet.google.com/{name}", Platform = MeetingPlatform.Meet,
            BotId = "bot-" + name, BotName = "use60 Notetaker (recording)", ChatNotice = "This meeting is recorded.",
            Status = RecordingStatus.Completed, ConsentBasis = ConsentBasis.RepChoice, ConsentRecordedAt = clock.GetUtcNow(),
            VideoSourceUrl = new Uri(mediaUrl, $"flaky/{name}/{Video}").ToString(), AudioSourceUrl = new Uri(mediaUrl, $"media/{Audio}?seed=8").ToString(),
            SourceUrlsReceivedAt = clock.GetUtcNow() - (mediaAge ?? TimeSpan.FromMinutes(1)), S3UploadStatus = S3UploadStatus.Pending,
        };
        await using var db = app.Service<SystemDb>().Open("test");
        db.Recordings.Add(recording);
        await db.SaveChangesAsync();
        return recording;
    }

    async Task<Recording> ReloadAsync(Recording recording)
    {
        await using var db = app.Service<SystemDb>().Open("test");
        return await db.Recordings.AsNoTracking().SingleAsync(r => r.Id == recording.Id);
    }

    Task<UploadRun> RunAsync() => app.Service<RecordingUploads>().RunAsync(default);

    async Task<int> FailureDmsAsync(Recording recording)
    {
        await using var db = app.Service<SystemDb>().Open("test");
        return await db.SlackOutbox.CountAsync(m => m.Source == "recording upload failed " + recording.Id);
    }

    async Task<long?> StoredSizeAsync(string key)
    {
        try
        {
            return (await s3.Client.GetObjectMetadataAsync(s3.Bucket, key)).ContentLength;
        }
        catch (Amazon.S3.AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    [Fact]
    public async Task A_finished_recording_is_copied_once_into_the_store_under_its_keys_with_its_sizes()
    {
        var recording = await RecordingAsync("complete");
        Assert.Equal(new UploadRun(1, 0, 0), await RunAsync());

        var kept = await ReloadAsync(recording);
        Assert.Equal(S3UploadStatus.Complete, kept.S3UploadStatus);
        Assert.Equal(RecordingKeys.For(org.Id, org[1].Id, recording.Id, RecordingKeys.Video), kept.VideoKey);
        Assert.Equal(RecordingKeys.For(org.Id, org[1].Id, recording.Id, RecordingKeys.Audio), kept.AudioKey);
        Assert.Equal((Video, Audio), (kept.VideoBytes, kept.AudioBytes));
        Assert.Equal((1, (string?)null), (kept.UploadAttempts, kept.UploadError));
        Assert.Equal(Video, await StoredSizeAsync(kept.VideoKey!));
        Assert.Equal(Audio, await StoredSizeAsync(kept.AudioKey!));

        // The copy's S3 requests are counted for the storage costs: the video's 3 parts with the upload's start and completion, and
        // the audio's single PUT.
        await using (var db = app.Service<SystemDb>().Open("test"))
        {
            var requests = await db.Database.SqlQuery<decimal>($"""
                SELECT value AS "Value" FROM s3_usage_metrics WHERE org_id = {org.Id} AND metric_type = 'api_requests'
                  AND metric_date = {DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime)}
                """).SingleAsync();
            Assert.Equal(3 + 2 + 1, requests);
        }

        // Nothing is due any more: a second run (or replica) copies nothing again.
        Assert.Equal(new UploadRun(0, 0, 0), await RunAsync());
        Assert.Single(requested, "complete");
    }

    [Fact]
    public async Task Two_replicas_running_at_once_copy_each_recording_once()
    {
        var recordings = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => RecordingAsync("pair-" + i)));
        var runs = await Task.WhenAll(RunAsync(), RunAsync());
        Assert.Equal(4, runs.Sum(r => r.Completed));
        foreach (var recording in recordings)
        {
            Assert.Single(requested, r => r == recording.BotId!["bot-".Length..]);
            Assert.Equal(S3UploadStatus.Complete, (await ReloadAsync(recording)).S3UploadStatus);
        }
    }

    [Fact]
    public async Task A_source_that_drops_mid_file_leaves_no_parts_and_is_retried_two_minutes_later_then_kept()
    {
        var recording = await RecordingAsync("dropped", dropFirst: 1);
        Assert.Equal(new UploadRun(0, 1, 0), await RunAsync());
        var waiting = await ReloadAsync(recording);
        Assert.Equal(S3UploadStatus.Pending, waiting.S3UploadStatus);
        Assert.Equal(clock.GetUtcNow() + TimeSpan.FromMinutes(2), waiting.NextUploadAt);
        Assert.StartsWith("reading the recording failed", waiting.UploadError);
        Assert.Empty((await s3.Client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = s3.Bucket })).MultipartUploads ?? []);
        Assert.Null(await StoredSizeAsync(RecordingKeys.For(org.Id, org[1].Id, recording.Id, RecordingKeys.Video)));

        // Not before its time; then it is kept.
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(new UploadRun(0, 0, 0), await RunAsync());
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(new UploadRun(1, 0, 0), await RunAsync());
        var kept = await ReloadAsync(recording);
        Assert.Equal((S3UploadStatus.Complete, 2, Video), (kept.S3UploadStatus, kept.UploadAttempts, kept.VideoBytes));
        Assert.Equal(0, await FailureDmsAsync(recording));
    }

    [Fact]
    public async Task Retries_come_after_2_5_and_10_minutes_then_the_recording_fails_and_the_rep_is_told_once()
    {
        var recording = await RecordingAsync("hopeless", dropFirst: 100);
        foreach (var wait in RecordingUploads.Backoff)
        {
            Assert.Equal(new UploadRun(0, 1, 0), await RunAsync());
            Assert.Equal(clock.GetUtcNow() + wait, (await ReloadAsync(recording)).NextUploadAt);
            clock.Advance(wait);
        }
        Assert.Equal(new UploadRun(0, 0, 1), await RunAsync());
        var failed = await ReloadAsync(recording);
        Assert.Equal((S3UploadStatus.Failed, 4), (failed.S3UploadStatus, failed.UploadAttempts));
        Assert.Equal(1, await FailureDmsAsync(recording));
        clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(new UploadRun(0, 0, 0), await RunAsync());
        Assert.Equal(1, await FailureDmsAsync(recording));
    }

    [Fact]
    public async Task Media_older_than_four_hours_is_not_fetched_the_recording_fails_as_source_expired()
    {
        var recording = await RecordingAsync("expired", mediaAge: TimeSpan.FromHours(4));
        Assert.Equal(new UploadRun(0, 0, 1), await RunAsync());
        var failed = await ReloadAsync(recording);
        Assert.Equal(S3UploadStatus.Failed, failed.S3UploadStatus);
        Assert.Equal(RecordingUploads.SourceExpired, failed.UploadError);
        Assert.DoesNotContain("expired", requested);
        Assert.Equal(1, await FailureDmsAsync(recording));
    }

    [Fact]
    public async Task An_admin_retries_a_failed_copy_from_the_recordings_page_audited_and_a_member_cannot()
    {
        var recording = await RecordingAsync("retry", dropFirst: 4);
        foreach (var wait in RecordingUploads.Backoff)
        {
            await RunAsync();
            clock.Advance(wait);
        }
        await RunAsync();
        Assert.Equal(S3UploadStatus.Failed, (await ReloadAsync(recording)).S3UploadStatus);

        var owner = await AdminPages.SignedInAsync(app, org[0]);
        var page = await AdminPages.PageAsync(owner, RecordingsModel.PagePath);
        var row = page.QuerySelector($"tr[data-recording='{recording.Id}']")!;
        Assert.Contains("not kept", row.QuerySelector("[data-field=upload]")!.TextContent);
        Assert.Contains("reading the recording failed", row.QuerySelector("[data-field=error]")!.TextContent);
        await owner.PostAsync(RecordingsModel.PagePath + "?handler=Retry", AdminPages.FormOf(page, $"tr[data-recording='{recording.Id}'] form"));
        var retried = await ReloadAsync(recording);
        Assert.Equal((S3UploadStatus.Pending, 0), (retried.S3UploadStatus, retried.UploadAttempts));
        Assert.Contains("copied again", (await AdminPages.PageAsync(owner, RecordingsModel.PagePath)).QuerySelector("[data-field=notice]")!.TextContent);
        await using (var db = app.Service<SystemDb>().Open("test"))
            Assert.Single(await db.SecurityAuditLog.AsNoTracking()
                .Where(a => a.EventType == AuditEvents.RecordingUploadRetried && a.UserId == org[0].Id).ToListAsync());

        Assert.Equal(new UploadRun(1, 0, 0), await RunAsync());
        Assert.Equal(S3UploadStatus.Complete, (await ReloadAsync(recording)).S3UploadStatus);

        using var member = app.Browser();
        await AdminPages.SignInAsync(member, await AdminPages.LinkPathAsync(app, org[1]));
        Assert.Equal("/admin/forbidden", (await member.GetAsync(RecordingsModel.PagePath)).Headers.Location?.AbsolutePath);
    }
}
