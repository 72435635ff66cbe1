using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;
using Use60.Data;
using Use60.Orgs;
using Use60.Recordings;
using Use60.Recordings.Pages;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>
/// Thumbnails and playback links on real parts: a real video made by ffmpeg and served by a loopback "provider", the upload
/// queue copying it into the tests' s3rver, ffmpeg cutting the thumbnail from a presigned link (or a fake thumbnail service
/// on 127.0.0.1 doing it, as the seeds' Lambda), the admin page's 15-minute links downloaded.
/// </summary>
public sealed class ThumbnailTests : IAsyncLifetime
{
    const long Audio = 400_000;
    // s3rver judges a presigned link by its own clock: the app's clock starts at the real time.
    readonly FakeTimeProvider clock = new(DateTimeOffset.UtcNow);
    readonly WebApplication media = LoopbackServer.Create();
    readonly string folder = Directory.CreateTempSubdirectory("use60-thumbs-").FullName;
    /// <summary>What the fake thumbnail service was asked, and the video bytes it downloaded from the link it was given.</summary>
    readonly ConcurrentQueue<(JsonElement Request, byte[] Video)> serviceCalls = new();
    byte[] video = null!, serviceJpeg = null!;
    Uri mediaUrl = null!;
    TestDatabase database = null!;
    S3Test s3 = null!;
    Use60App? app;

    public async Task InitializeAsync()
    {
        // An 8-second test pattern, 320×240: a real MP4 that ffmpeg can cut a frame from.
        var mp4 = Path.Combine(folder, "meeting.mp4");
        await FfmpegAsync("-f", "lavfi", "-i", "testsrc=duration=8:size=320x240:rate=10", "-pix_fmt", "yuv420p", mp4);
        video = await File.ReadAllBytesAsync(mp4);
        var jpeg = Path.Combine(folder, "service.jpg");
        await FfmpegAsync("-f", "lavfi", "-i", "color=c=orange:size=200x112", "-frames:v", "1", jpeg);
        serviceJpeg = await File.ReadAllBytesAsync(jpeg);

        media.MapGet("/meeting.mp4", () => Results.Bytes(video, "video/mp4"));
        GeneratedMedia.MapServer(media);
        // The seeds' Lambda: POST {"fathom_url": …} → {"http_url", "s3_location"}; it reads the video from the link first.
        media.MapPost("/thumbnail", async (HttpContext context) =>
        {
            var request = await JsonSerializer.DeserializeAsync<JsonElement>(context.Request.Body);
            using var http = new HttpClient();
            var downloaded = await http.GetByteArrayAsync(request.GetProperty("fathom_url").GetString());
            serviceCalls.Enqueue((request, downloaded));
            return Results.Json(new { http_url = new Uri(mediaUrl, "thumbs/made.jpg").ToString(), s3_location = "s3://thumbnails/made.jpg" });
        });
        media.MapGet("/thumbs/made.jpg", () => Results.Bytes(serviceJpeg, "image/jpeg"));
        mediaUrl = await LoopbackServer.StartAsync(media);
        s3 = await S3Test.CreateAsync();
        database = await TestDatabase.CreateAsync();
    }

    public async Task DisposeAsync()
    {
        if (app is not null) await app.DisposeAsync();
        await database.DisposeAsync();
        await s3.DisposeAsync();
        await media.DisposeAsync();
        Directory.Delete(folder, recursive: true);
    }

    Use60App App(Dictionary<string, string?>? extra = null)
    {
        var options = S3Test.Options(s3.Bucket);
        var settings = new Dictionary<string, string?>
        {
            ["S3:Region"] = options.Region, ["S3:Bucket"] = options.Bucket, ["S3:EndpointUrl"] = options.EndpointUrl,
            ["S3:AccessKeyId"] = options.AccessKeyId, ["S3:SecretAccessKey"] = options.SecretAccessKey,
        };
        foreach (var (key, value) in extra ?? []) settings[key] = value;
        return app = new Use60App(database, settings, clock);
    }

    static async Task FfmpegAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true };
        foreach (var argument in (string[])["-hide_banner", "-loglevel", "error", "-y", .. arguments]) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, "ffmpeg: " + errors);
    }

    async Task<Recording> RecordingAsync(AppUser rep, string videoPath)
    {
        var name = Guid.NewGuid().ToString("N")[..10];
        var recording = new Recording
        {
            OrgId = rep.OrgId, UserId = rep.Id, Source = RecordingSource.Command, Title = "TechCorp demo " + name,
            MeetingUrl = $"https://meet.google.com/{name}", MeetingKey = $"https://meet.google.com/{name}", Platform = MeetingPlatform.Meet,
            BotId = "bot-" + name, BotName = "use60 Notetaker (recording)", ChatNotice = "This meeting is recorded.",
            Status = RecordingStatus.Completed, ConsentBasis = ConsentBasis.RepChoice, ConsentRecordedAt = clock.GetUtcNow(),
            VideoSourceUrl = new Uri(mediaUrl, videoPath).ToString(), AudioSourceUrl = new Uri(mediaUrl, $"media/{Audio}?seed=8").ToString(),
            SourceUrlsReceivedAt = clock.GetUtcNow() - TimeSpan.FromMinutes(1), S3UploadStatus = S3UploadStatus.Pending,
        };
        await using var db = app!.Service<SystemDb>().Open("test");
        db.Recordings.Add(recording);
        await db.SaveChangesAsync();
        return recording;
    }

    async Task<Recording> ReloadAsync(Recording recording)
    {
        await using var db = app!.Service<SystemDb>().Open("test");
        return await db.Recordings.AsNoTracking().SingleAsync(r => r.Id == recording.Id);
    }

    async Task<byte[]?> StoredAsync(string key)
    {
        try
        {
            using var response = await s3.Client.GetObjectAsync(s3.Bucket, key);
            using var bytes = new MemoryStream();
            await response.ResponseStream.CopyToAsync(bytes);
            return bytes.ToArray();
        }
        catch (Amazon.S3.AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>A presigned link good for 900 s, give or take the second the SDK's clock-skew correction may add.</summary>
    static void AssertFifteenMinutes(string link) =>
        Assert.InRange(int.Parse(System.Web.HttpUtility.ParseQueryString(new Uri(link).Query)["X-Amz-Expires"]!), 898, 902);

    Task<UploadRun> RunAsync()
    {
        CatchUp();
        return app!.Service<RecordingUploads>().RunAsync(default);
    }

    /// <summary>The app's clock to the real time (setting up took seconds), which the SDK and s3rver measure a link's life by.</summary>
    void CatchUp() => clock.SetUtcNow(DateTimeOffset.UtcNow);

    /// <summary>A baseline JPEG's width and height, from its start-of-frame marker (SOF0–SOF2).</summary>
    static (int Width, int Height) JpegSize(byte[] jpeg)
    {
        Assert.True(RecordingThumbnails.IsJpeg(jpeg), "not a JPEG (FF D8 … FF D9)");
        for (var i = 2; i + 9 < jpeg.Length;)
        {
            Assert.Equal(0xFF, jpeg[i]);
            var marker = jpeg[i + 1];
            var length = jpeg[i + 2] << 8 | jpeg[i + 3];
            if (marker is 0xC0 or 0xC1 or 0xC2)
                return (jpeg[i + 7] << 8 | jpeg[i + 8], jpeg[i + 5] << 8 | jpeg[i + 6]);
            i += 2 + length;
        }
        throw new Xunit.Sdk.XunitException("the JPEG has no start-of-frame marker");
    }

    [Fact]
    public async Task A_kept_video_gets_a_jpeg_thumbnail_cut_by_ffmpeg_stored_next_to_it()
    {
        App();
        var org = await TestData.CreateOrgAsync(app!.Services, "Thumbs", UserRole.Owner, UserRole.Member);
        var recording = await RecordingAsync(org[1], "meeting.mp4");
        Assert.Equal(new UploadRun(1, 0, 0), await RunAsync());

        var kept = await ReloadAsync(recording);
        Assert.Equal(S3UploadStatus.Complete, kept.S3UploadStatus);
        var key = RecordingKeys.For(org.Id, org[1].Id, recording.Id, RecordingKeys.Thumbnail);
        Assert.EndsWith($"/{recording.Id}/thumbnail.jpg", key);
        Assert.Equal((key, (string?)null), (kept.ThumbnailKey, kept.ThumbnailError));
        Assert.Equal(video, await StoredAsync(kept.VideoKey!));
        var thumbnail = (await StoredAsync(key))!;
        Assert.True(thumbnail.Length > 1024, $"a {thumbnail.Length}-byte thumbnail");
        Assert.Equal((320, 240), JpegSize(thumbnail));   // no wider than 640, never enlarged
        Assert.Equal("image/jpeg", (await s3.Client.GetObjectMetadataAsync(s3.Bucket, key)).Headers.ContentType);
    }

    [Fact]
    public async Task A_video_ffmpeg_cannot_read_is_still_kept_without_a_thumbnail_and_the_reason_is_recorded_without_a_signature()
    {
        App();
        var org = await TestData.CreateOrgAsync(app!.Services, "Garbage", UserRole.Owner, UserRole.Member);
        var recording = await RecordingAsync(org[1], "media/300000?seed=5");   // random bytes, not a video
        Assert.Equal(new UploadRun(1, 0, 0), await RunAsync());

        var kept = await ReloadAsync(recording);
        Assert.Equal((S3UploadStatus.Complete, (string?)null, 300_000L), (kept.S3UploadStatus, kept.UploadError, kept.VideoBytes));
        Assert.Null(kept.ThumbnailKey);
        Assert.StartsWith("ffmpeg failed (exit code", kept.ThumbnailError);
        Assert.DoesNotContain("X-Amz-Signature", kept.ThumbnailError);
        Assert.DoesNotContain("http", kept.ThumbnailError);
        Assert.Equal("GET http://127.0.0.1:9/b/k.mp4?… failed",
            RecordingThumbnails.Redact("GET http://127.0.0.1:9/b/k.mp4?X-Amz-Credential=S3RVER&X-Amz-Signature=0123abcd failed"));
        Assert.Null(await StoredAsync(RecordingKeys.For(org.Id, org[1].Id, recording.Id, RecordingKeys.Thumbnail)));

        // The admin page says why.
        var owner = await AdminPages.SignedInAsync(app, org[0]);
        var row = (await AdminPages.PageAsync(owner, RecordingsModel.PagePath)).QuerySelector($"tr[data-recording='{recording.Id}']")!;
        Assert.Contains("No thumbnail: ffmpeg failed", row.QuerySelector("[data-field=thumbnail-error]")!.TextContent);
        Assert.Null(row.QuerySelector("[data-field=thumbnail]"));
        Assert.NotNull(row.QuerySelector("[data-field=video]"));
    }

    [Fact]
    public async Task Without_ffmpeg_the_recording_is_kept_and_the_reason_says_to_install_the_ffmpeg_package()
    {
        App(new() { ["Thumbnails:FfmpegPath"] = Path.Combine(folder, "no-such-ffmpeg") });
        var org = await TestData.CreateOrgAsync(app!.Services, "NoFfmpeg", UserRole.Owner, UserRole.Member);
        var recording = await RecordingAsync(org[1], "meeting.mp4");
        Assert.Equal(new UploadRun(1, 0, 0), await RunAsync());
        var kept = await ReloadAsync(recording);
        Assert.Equal((S3UploadStatus.Complete, (string?)null), (kept.S3UploadStatus, kept.ThumbnailKey));
        Assert.Contains("install the Debian package ffmpeg", kept.ThumbnailError);
    }

    [Fact]
    public async Task With_a_thumbnail_service_it_is_posted_a_working_presigned_link_and_its_image_is_stored()
    {
        App(new() { ["Thumbnails:ServiceUrl"] = new Uri(mediaUrl, "thumbnail").ToString() });
        var org = await TestData.CreateOrgAsync(app!.Services, "Lambda", UserRole.Owner, UserRole.Member);
        var recording = await RecordingAsync(org[1], "meeting.mp4");
        Assert.Equal(new UploadRun(1, 0, 0), await RunAsync());

        var (request, downloaded) = Assert.Single(serviceCalls);
        var link = request.GetProperty("fathom_url").GetString()!;
        Assert.Equal(link, request.GetProperty("video_url").GetString());
        Assert.Equal(recording.Id, request.GetProperty("recording_id").GetGuid());
        Assert.StartsWith($"{S3Test.Endpoint.TrimEnd('/')}/{s3.Bucket}/meeting-recordings/", link);
        AssertFifteenMinutes(link);
        Assert.Equal(video, downloaded);

        var kept = await ReloadAsync(recording);
        Assert.Equal((RecordingKeys.For(org.Id, org[1].Id, recording.Id, RecordingKeys.Thumbnail), (string?)null), (kept.ThumbnailKey, kept.ThumbnailError));
        Assert.Equal(serviceJpeg, await StoredAsync(kept.ThumbnailKey!));
    }

    [Fact]
    public async Task The_recordings_page_gives_an_orgs_admins_working_15_minute_links_and_no_one_else()
    {
        App();
        var org = await TestData.CreateOrgAsync(app!.Services, "Playback", UserRole.Owner, UserRole.Admin, UserRole.Member, UserRole.Member);
        var other = await TestData.CreateOrgAsync(app.Services, "Elsewhere", UserRole.Owner, UserRole.Member);
        var recording = await RecordingAsync(org[2], "meeting.mp4");
        var theirs = await RecordingAsync(other[1], "meeting.mp4");
        Assert.Equal(new UploadRun(2, 0, 0), await RunAsync());
        var kept = await ReloadAsync(recording);
        var thumbnail = (await StoredAsync(kept.ThumbnailKey!))!;
        using var anyone = new HttpClient();   // no credentials, no cookies: the link is all it takes

        foreach (var admin in new[] { org[0], org[1] })
        {
            var browser = await AdminPages.SignedInAsync(app, admin);
            CatchUp();
            var response = await browser.GetAsync(RecordingsModel.PagePath);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            // The thumbnails come from the bucket's address: the page's CSP allows images from there, and nothing else changes.
            var policy = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains($"img-src 'self' data: {new Uri(S3Test.Endpoint).GetLeftPart(UriPartial.Authority)}", policy);
            Assert.Contains("script-src 'self'", policy);
            var page = await AdminPages.HtmlAsync(response);
            Assert.Null(page.QuerySelector($"tr[data-recording='{theirs.Id}']"));
            var row = page.QuerySelector($"tr[data-recording='{recording.Id}']")!;
            var links = new Dictionary<string, (string Href, byte[] Expected)>
            {
                ["video"] = (row.QuerySelector("a[data-field=video]")!.GetAttribute("href")!, video),
                ["audio"] = (row.QuerySelector("a[data-field=audio]")!.GetAttribute("href")!, GeneratedMedia.Bytes(Audio, seed: 8)),
                ["thumbnail"] = (row.QuerySelector("img[data-field=thumbnail]")!.GetAttribute("src")!, thumbnail),
            };
            Assert.Equal("Play video", row.QuerySelector("a[data-field=video]")!.TextContent);
            Assert.Equal("Audio", row.QuerySelector("a[data-field=audio]")!.TextContent);
            foreach (var (what, (href, expected)) in links)
            {
                AssertFifteenMinutes(href);
                Assert.Equal(expected, await anyone.GetByteArrayAsync(href));
            }
        }

        // A member (even the rep whose recording it is) is refused the admin page.
        using var member = app.Browser();
        await AdminPages.SignInAsync(member, await AdminPages.LinkPathAsync(app, org[2]));
        var refused = await member.GetAsync(RecordingsModel.PagePath);
        Assert.Equal("/admin/forbidden", refused.Headers.Location?.AbsolutePath);

        // The copilot's way in: the rep and the org's admins get links through their own row-level security, no one else does.
        var links15 = app.Service<RecordingLinks>();
        CatchUp();
        var mine = await TestData.AsAsync(app.Services, org[2], db => links15.ForAsync(db, recording.Id));
        Assert.NotNull(mine);
        Assert.Equal(clock.GetUtcNow() + TimeSpan.FromMinutes(15), mine.ExpiresAt);
        Assert.Equal(video, await anyone.GetByteArrayAsync(mine.Video));
        Assert.NotNull(mine.Thumbnail);
        Assert.NotNull(await TestData.AsAsync(app.Services, org[1], db => links15.ForAsync(db, recording.Id)));
        Assert.Null(await TestData.AsAsync(app.Services, org[3], db => links15.ForAsync(db, recording.Id)));
        Assert.Null(await TestData.AsAsync(app.Services, other[0], db => links15.ForAsync(db, recording.Id)));
    }
}
