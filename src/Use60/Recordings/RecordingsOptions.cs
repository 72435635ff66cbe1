using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Use60.Copilot;
using Use60.Hosting;
using Use60.Slack;

namespace Use60.Recordings;

/// <summary>Where recordings are kept for good: S3 or any S3-compatible store. Unset: a local folder under .data/.</summary>
[ConfigSection("S3")]
public sealed partial class S3Options : IValidatedOptions
{
    [EnvironmentVariable("AWS_REGION", "AWS region of the recordings bucket, e.g. eu-west-2.")]
    public string? Region { get; set; }

    [EnvironmentVariable("AWS_S3_BUCKET", "Bucket that keeps meeting recordings. Unset: recordings stay in a local folder under .data/.")]
    public string? Bucket { get; set; }

    [EnvironmentVariable("AWS_ENDPOINT_URL", "Endpoint of an S3-compatible store (MinIO, R2, s3rver); unset for AWS itself.")]
    public string? EndpointUrl { get; set; }

    [EnvironmentVariable("AWS_ACCESS_KEY_ID", "Access key for the bucket (or use the instance's IAM role and leave both keys unset).")]
    public string? AccessKeyId { get; set; }

    [EnvironmentVariable("AWS_SECRET_ACCESS_KEY", "Secret key paired with AWS_ACCESS_KEY_ID.", Secret = true)]
    public string? SecretAccessKey { get; set; }

    /// <summary>Where recordings are kept without a bucket; a relative path is from the app's content root (where it runs).</summary>
    public string LocalRoot { get; set; } = ".data/recordings";

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(LocalRoot))
            yield return "S3__LocalRoot must name a folder (default .data/recordings) for recordings kept without a bucket.";
        if (!string.IsNullOrWhiteSpace(Bucket))
        {
            if (!BucketName().IsMatch(Bucket))
                yield return "AWS_S3_BUCKET must be a bucket name: 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit.";
            if (string.IsNullOrWhiteSpace(Region))
                yield return "AWS_S3_BUCKET is set but AWS_REGION is not: name the bucket's region, e.g. eu-west-2 (us-east-1 for most S3-compatible stores).";
        }
        if (!string.IsNullOrWhiteSpace(EndpointUrl) && !ValidatedOptions.IsHttpUrl(EndpointUrl))
            yield return "AWS_ENDPOINT_URL must be an absolute http(s) URL such as http://127.0.0.1:4568.";
        foreach (var problem in ValidatedOptions.Pair<S3Options>(AccessKeyId, nameof(AccessKeyId), SecretAccessKey, nameof(SecretAccessKey), "S3 access"))
            yield return problem;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketName();
}

/// <summary>The notetaker bot provider.</summary>
[ConfigSection("MeetingBaas")]
public sealed class MeetingBaasOptions : IValidatedOptions
{
    public const string DefaultApiUrl = "https://api.meetingbaas.com";

    [EnvironmentVariable("MEETINGBAAS_API_KEY", "API key for MeetingBaaS recording bots. Unset: the notetaker is off.", Secret = true)]
    public string? ApiKey { get; set; }

    [EnvironmentVariable("MEETINGBAAS_WEBHOOK_SECRET",
        "The signing secret (whsec_…) of the MeetingBaaS webhook endpoint for /webhooks/meetingbaas: each webhook's Svix signature is checked with it.", Secret = true)]
    public string? WebhookSecret { get; set; }

    [EnvironmentVariable("MEETINGBAAS_API_URL", "Base URL of the MeetingBaaS API (default https://api.meetingbaas.com); tests point it at a local fake.")]
    public string ApiUrl { get; set; } = DefaultApiUrl;

    /// <summary>With an API key the notetaker sends bots; without one it is off.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(ApiKey);

    public Uri ApiUri => new(ApiUrl.TrimEnd('/') + "/");

    public IEnumerable<string> Validate()
    {
        if (!ValidatedOptions.IsHttpUrl(ApiUrl))
            yield return $"MEETINGBAAS_API_URL must be an absolute http(s) URL such as {DefaultApiUrl}.";
        if (!string.IsNullOrWhiteSpace(ApiKey) && string.IsNullOrWhiteSpace(WebhookSecret))
            yield return "MEETINGBAAS_API_KEY is set but MEETINGBAAS_WEBHOOK_SECRET is not: without it the bots' status webhooks cannot be verified and are refused.";
    }
}

public static class RecordingsFeature
{
    public static IServiceCollection AddRecordings(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddValidatedOptions<S3Options>(configuration).AddValidatedOptions<MeetingBaasOptions>(configuration)
            .AddValidatedOptions<GladiaOptions>(configuration).AddValidatedOptions<FathomOptions>(configuration)
            .AddRecordingStore()
            .AddRecordingThumbnails(configuration)
            .AddScoped<StorageMetrics>()
            .AddSingleton<MeetingTranscripts>()
            .AddSingleton(new Admin.AdminNavItem("Recordings", Pages.RecordingsModel.PagePath, 59))
            .AddSingleton(new Admin.AdminNavItem("Storage costs", Pages.StorageModel.PagePath, 60));
        // The notetaker: MeetingBaaS bots (auto-join is scheduled with the other jobs in ProactiveFeature), their webhooks, /sixty record.
        services.AddHttpClient<MeetingBaasClient>(http => http.Timeout = TimeSpan.FromSeconds(30));
        // The upload queue: the provider's media into the store (scheduled with the other jobs), kicked when a recording is ready.
        services.AddHttpClient<RecordingUploads>(http => http.Timeout = TimeSpan.FromMinutes(1));   // until the headers; the body has the lease
        services.AddSingleton<IRecordingUploadKick, RecordingUploadKick>();
        services.AddScoped<Notetaker>();
        services.AddScoped<NotetakerAutoJoin>();
        services.AddScoped<IExternalAction, RecordMeetingAction>();
        services.AddSingleton<WebhookSignature>();
        services.AddSingleton<WebhookInbox>();
        services.AddSingleton<MeetingBaasWebhook>();
        // Transcripts: MeetingBaaS's from bot.completed, or Gladia's of the stored audio (asked for when the copy completes, called back).
        services.AddSingleton<IValidateOptions<GladiaOptions>, GladiaNeedsMasterKey>();
        services.AddHttpClient<GladiaClient>(http => http.Timeout = TimeSpan.FromSeconds(30));
        services.AddSingleton<GladiaWebhook>();
        services.AddTransient<RecordingTranscription>();
        services.AddTransient<IRecordingStored>(sp => sp.GetRequiredService<RecordingTranscription>());
        // Fathom, the other recording source: its webhook and the fathom-pull job (scheduled with the other jobs) land each recording
        // through the same transcript step.
        services.AddHttpClient<FathomClient>(http => http.Timeout = TimeSpan.FromSeconds(30));
        services.AddTransient<FathomRecordings>();
        services.AddTransient<FathomWebhook>();
        services.AddScoped<FathomPull>();
        return services.AddSlackListeners(NotetakerSlack.Register).AddSlackListeners(FathomSlack.Register);
    }

    /// <summary>POST /webhooks/meetingbaas, /webhooks/gladia and /webhooks/fathom.</summary>
    public static IEndpointRouteBuilder MapRecordings(this IEndpointRouteBuilder app) => FathomWebhook.Map(GladiaWebhook.Map(MeetingBaasWebhook.Map(app)));
}
