using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;
using Use60.Hosting;

namespace Use60.Recordings;

/// <summary>How each kept video gets its thumbnail: ffmpeg in this process, or the thumbnail service when one is set.</summary>
[ConfigSection("Thumbnails")]
public sealed class ThumbnailOptions : IValidatedOptions
{
    [EnvironmentVariable("THUMBNAIL_SERVICE_URL",
        "A thumbnail service (like the seeds' Lambda) that is POSTed each kept video's 15-minute link as JSON and answers with the JPEG, or JSON with its http_url. Unset: ffmpeg in this process.")]
    public string? ServiceUrl { get; set; }

    /// <summary>The ffmpeg to run (Debian's <c>ffmpeg</c> package on PATH by default).</summary>
    public string FfmpegPath { get; set; } = "ffmpeg";

    /// <summary>The most one thumbnail may take, ffmpeg or the service; past it ffmpeg is killed.</summary>
    public int TimeoutSeconds { get; set; } = 60;

    public bool UsesService => !string.IsNullOrWhiteSpace(ServiceUrl);

    public IEnumerable<string> Validate()
    {
        if (UsesService && !ValidatedOptions.IsHttpUrl(ServiceUrl))
            yield return "THUMBNAIL_SERVICE_URL must be an absolute http(s) URL such as https://abc123.lambda-url.eu-west-2.on.aws/ (or unset, to use ffmpeg).";
        if (string.IsNullOrWhiteSpace(FfmpegPath))
            yield return "Thumbnails__FfmpegPath must name the ffmpeg program (default ffmpeg, from the Debian package ffmpeg).";
        if (TimeoutSeconds is < 5 or > 600)
            yield return "Thumbnails__TimeoutSeconds must be between 5 and 600 (default 60).";
    }
}

/// <summary>Why a thumbnail could not be made, in words fit for the admin site and the logs (never a signed link).</summary>
public sealed class ThumbnailException(string reason) : Exception(reason);

/// <summary>
/// One JPEG per kept video, stored next to it (<see cref="RecordingKeys.Thumbnail"/>) and recorded on the recording
/// (<c>thumbnail_key</c>, or <c>thumbnail_error</c> with why not). By default ffmpeg cuts a frame 5 seconds in (the first
/// frame of a shorter video) from a 15-minute link to the stored video, scaled to at most 640 pixels wide; with
/// THUMBNAIL_SERVICE_URL the link is POSTed to that service instead, as the seeds' Lambda is called. A thumbnail is a nicety:
/// making it never throws (but for the caller's cancellation), whatever ffmpeg, the service or the store do.
/// </summary>
public sealed partial class RecordingThumbnails(IRecordingStore store, HttpClient http, IOptions<ThumbnailOptions> options, SystemDb system,
    TimeProvider clock, ILogger<RecordingThumbnails> logger)
{
    /// <summary>A 640-pixel JPEG is tens of KB; anything past this is not a thumbnail.</summary>
    public const int MaxBytes = 8 * 1024 * 1024;

    /// <summary>Where in the video the frame is cut; a shorter video gives its first frame.</summary>
    public static readonly TimeSpan SeekTo = TimeSpan.FromSeconds(5);

    /// <summary>How long the link ffmpeg or the service reads the video from works (the seeds' 15 minutes).</summary>
    public static readonly TimeSpan LinkLifetime = TimeSpan.FromMinutes(15);

    ThumbnailOptions Options => options.Value;
    TimeSpan Timeout => TimeSpan.FromSeconds(Options.TimeoutSeconds);

    /// <summary>
    /// Makes, stores and records the thumbnail of <paramref name="videoKey"/>; returns its key, or null (the reason recorded and
    /// logged). Throws nothing but an <see cref="OperationCanceledException"/> for <paramref name="cancellationToken"/>.
    /// </summary>
    public async Task<string?> MakeAsync(Recording recording, string videoKey, CancellationToken cancellationToken)
    {
        try
        {
            return await MakeOrThrowAsync(recording, videoKey, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Not even the reason could be recorded (the database went away?): the recording is kept all the same.
            logger.LogError("Recording {RecordingId} is kept, but making or recording its thumbnail failed: {Error}", recording.Id,
                Redact(RecordingUpload.Describe(e)));
            return null;
        }
    }

    async Task<string?> MakeOrThrowAsync(Recording recording, string videoKey, CancellationToken cancellationToken)
    {
        var key = RecordingKeys.For(recording.OrgId, recording.UserId, recording.Id, RecordingKeys.Thumbnail);
        string? error;
        using var limit = new CancellationTokenSource(Timeout, clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token);
        try
        {
            var jpeg = Options.UsesService ? await FromServiceAsync(recording, videoKey, linked.Token) : await FromFfmpegAsync(videoKey, linked.Token);
            if (!IsJpeg(jpeg))
                throw new ThumbnailException($"{(Options.UsesService ? "the thumbnail service" : "ffmpeg")} returned {jpeg.Length} bytes that are not a JPEG");
            await store.UploadAsync(key, new MemoryStream(jpeg, writable: false), "image/jpeg", linked.Token);
            logger.LogInformation("Recording {RecordingId} has its thumbnail ({Bytes} bytes, {Maker})", recording.Id, jpeg.Length,
                Options.UsesService ? "thumbnail service" : "ffmpeg");
            error = null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            error = $"making the thumbnail took longer than {Options.TimeoutSeconds} seconds";
        }
        catch (Exception e) when (e is ThumbnailException or RecordingUploadException or HttpRequestException or IOException or JsonException
                                      or InvalidOperationException)
        {
            error = Redact(e is ThumbnailException or RecordingUploadException ? e.Message : RecordingUpload.Describe(e));
        }
        if (error is not null)
            logger.LogWarning("Recording {RecordingId} is kept but has no thumbnail: {Reason}", recording.Id, error);
        await using var db = system.Open("record a recording's thumbnail");
        await db.Recordings.Where(r => r.Id == recording.Id).ExecuteUpdateAsync(r => r
            .SetProperty(x => x.ThumbnailKey, error is null ? key : null).SetProperty(x => x.ThumbnailError, error)
            .SetProperty(x => x.UpdatedAt, clock.GetUtcNow()), CancellationToken.None);
        return error is null ? key : null;
    }

    /// <summary>
    /// ffmpeg reads the video itself (from the local store's file, or a 15-minute link to the bucket: only the parts it needs,
    /// with range requests) and writes one JPEG to its stdout, read here whole (it is small) so that only a complete, checked
    /// JPEG reaches the store.
    /// </summary>
    async Task<byte[]> FromFfmpegAsync(string videoKey, CancellationToken cancellationToken)
    {
        var input = store is LocalRecordingStore local
            ? local.FileOf(videoKey) ?? throw new ThumbnailException("the stored video's file is missing")
            : store.PresignGet(videoKey, LinkLifetime).ToString();
        var jpeg = await RunFfmpegAsync(input, SeekTo, cancellationToken);
        // Shorter than the seek: nothing was cut, so take the first frame.
        return jpeg.Length > 0 ? jpeg : await RunFfmpegAsync(input, TimeSpan.Zero, cancellationToken);
    }

    async Task<byte[]> RunFfmpegAsync(string input, TimeSpan seek, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Options.FfmpegPath)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var argument in FfmpegArguments(input, seek)) start.ArgumentList.Add(argument);
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            var why = e.NativeErrorCode == 2 ? "not found" : e.Message;   // ENOENT
            logger.LogError("Cannot make thumbnails: ffmpeg could not be started ({Program}: {Error}). Install the Debian package ffmpeg " +
                            "(apt-get install ffmpeg), or set THUMBNAIL_SERVICE_URL", Options.FfmpegPath, why);
            throw new ThumbnailException($"ffmpeg is not installed or could not be started ({Options.FfmpegPath}: {why}): " +
                                         "install the Debian package ffmpeg (apt-get install ffmpeg), or set THUMBNAIL_SERVICE_URL");
        }
        process.StandardInput.Close();
        try
        {
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            // Its output first: more than a thumbnail's worth stops here, and the finally below kills it.
            var jpeg = await ReadBoundedAsync(process.StandardOutput.BaseStream, "ffmpeg", cancellationToken);
            var stderr = await errors;
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
                throw new ThumbnailException($"ffmpeg failed (exit code {process.ExitCode}): {FirstLines(Redact(stderr.Replace(input, "the video")))}");
            return jpeg;
        }
        finally
        {
            if (!process.HasExited)
            {
                // Timed out, cancelled or over the size limit: ffmpeg (and anything it started) must not outlive the attempt.
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    /// <summary>No shell: each argument as it is. A URL input gives up on a stalled read after 30 seconds.</summary>
    public static IEnumerable<string> FfmpegArguments(string input, TimeSpan seek)
    {
        string[] head = ["-hide_banner", "-loglevel", "error", "-nostdin"];
        string[] network = Uri.TryCreate(input, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? ["-rw_timeout", "30000000"] : [];
        return [.. head, .. network, "-ss", seek.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture), "-i", input,
            "-frames:v", "1", "-vf", "scale='min(640,iw)':-2", "-f", "image2", "-c:v", "mjpeg", "-q:v", "4", "pipe:1"];
    }

    /// <summary>
    /// The seeds' Lambda: <c>POST {"fathom_url": link}</c> (here also <c>video_url</c> and <c>recording_id</c>), answered with
    /// <c>{"http_url", "s3_location"}</c>; the image is fetched from <c>http_url</c>. A service that answers with the image
    /// itself (<c>image/jpeg</c>) is taken as it is.
    /// </summary>
    async Task<byte[]> FromServiceAsync(Recording recording, string videoKey, CancellationToken cancellationToken)
    {
        var link = store.PresignGet(videoKey, LinkLifetime).ToString();
        using var response = await http.PostAsJsonAsync(Options.ServiceUrl,
            new ServiceRequest(link, link, recording.Id), ServiceJson.Default.ServiceRequest, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new ThumbnailException($"the thumbnail service answered {(int)response.StatusCode} {response.ReasonPhrase}: " +
                                         FirstLines(Redact(await response.Content.ReadAsStringAsync(cancellationToken))));
        var type = response.Content.Headers.ContentType?.MediaType ?? "";
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        if (type.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
            return await ReadBoundedAsync(body, "the thumbnail service", cancellationToken);
        var answer = await JsonSerializer.DeserializeAsync(body, ServiceJson.Default.ServiceAnswer, cancellationToken);
        if (answer?.HttpUrl is not { } url || !ValidatedOptions.IsHttpUrl(url))
            throw new ThumbnailException($"the thumbnail service answered {type} without an http_url to the thumbnail");
        using var image = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!image.IsSuccessStatusCode)
            throw new ThumbnailException($"the thumbnail the service made could not be fetched: {(int)image.StatusCode} {image.ReasonPhrase}");
        await using var bytes = await image.Content.ReadAsStreamAsync(cancellationToken);
        return await ReadBoundedAsync(bytes, "the thumbnail service", cancellationToken);
    }

    static async Task<byte[]> ReadBoundedAsync(Stream source, string from, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await source.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBytes)
                throw new ThumbnailException($"{from} returned more than {MaxBytes / 1024 / 1024} MiB, which is no thumbnail");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>Starts with the JPEG start-of-image marker and ends with its end-of-image marker.</summary>
    public static bool IsJpeg(ReadOnlySpan<byte> bytes) =>
        bytes.Length > 4 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[^2] == 0xFF && bytes[^1] == 0xD9;

    /// <summary>Links lose their query (a presigned URL's signature lives there), so no error or log line carries one.</summary>
    public static string Redact(string text) => UrlQuery().Replace(text, "$1?…");

    static string FirstLines(string text)
    {
        var lines = string.Join(" ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(3));
        return lines.Length == 0 ? "no explanation" : lines.Length > 400 ? lines[..400] + "…" : lines;
    }

    [GeneratedRegex(@"(https?://[^\s?#""'<>]+)\?[^\s""'<>]*", RegexOptions.IgnoreCase)]
    private static partial Regex UrlQuery();

    internal sealed record ServiceRequest(
        [property: JsonPropertyName("fathom_url")] string FathomUrl,
        [property: JsonPropertyName("video_url")] string VideoUrl,
        [property: JsonPropertyName("recording_id")] Guid RecordingId);

    internal sealed record ServiceAnswer(
        [property: JsonPropertyName("http_url")] string? HttpUrl,
        [property: JsonPropertyName("s3_location")] string? S3Location);

    [JsonSerializable(typeof(ServiceRequest))]
    [JsonSerializable(typeof(ServiceAnswer))]
    internal sealed partial class ServiceJson : JsonSerializerContext;
}

public static class RecordingThumbnailsFeature
{
    /// <summary>Thumbnails (made by the upload queue once a video is kept) and the 15-minute playback links.</summary>
    public static IServiceCollection AddRecordingThumbnails(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<ThumbnailOptions>(configuration);
        services.AddHttpClient<RecordingThumbnails>(http => http.Timeout = TimeSpan.FromSeconds(90));   // the options' timeout cuts it first
        return services.AddSingleton<RecordingLinks>();
    }
}
