using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Use60.Recordings;

namespace Use60.Tests.Infrastructure;

/// <summary>
/// Gladia's v2 pre-recorded API as a real HTTP server on 127.0.0.1: a job is started with an audio link (which it downloads at once,
/// as Gladia does, keeping the bytes), its result is read by id, and the test fires the job's callback when it likes.
/// </summary>
public sealed class FakeGladia : IAsyncDisposable
{
    public const string ApiKey = "gladia-test-key-0123456789";

    public sealed class Job
    {
        public required string Id { get; init; }
        public required JsonObject Request { get; init; }
        public byte[]? Audio { get; set; }
        public string Status { get; set; } = "queued";
        public List<(int Speaker, double Start, double End, string Text)> Utterances { get; } = [];
        public Uri CallbackUrl => new(Request["callback_config"]!["url"]!.GetValue<string>());
        public string AudioUrl => Request["audio_url"]!.GetValue<string>();
    }

    readonly WebApplication app;
    readonly ConcurrentDictionary<string, Job> jobs = new();
    readonly HttpClient downloads = new();

    public Uri BaseAddress { get; private set; } = null!;

    FakeGladia()
    {
        app = LoopbackServer.Create();
        app.MapPost("/v2/pre-recorded", async (HttpRequest request) =>
        {
            if (request.Headers[GladiaClient.ApiKeyHeader] != ApiKey) return Error(401, "Invalid API key");
            if (Interlocked.Decrement(ref unavailableStarts) >= 0) return Error(503, "Service temporarily unavailable");
            if (Interlocked.Decrement(ref refusedStarts) >= 0) return Error(400, "audio_url is not a supported media file");
            var body = JsonNode.Parse(await new StreamReader(request.Body).ReadToEndAsync()) as JsonObject;
            if (body?["audio_url"] is null) return Error(400, "audio_url is required");
            var job = new Job { Id = Guid.NewGuid().ToString(), Request = body };
            // Gladia fetches the audio itself; a link that does not work fails the job.
            using (var audio = await downloads.GetAsync(job.AudioUrl))
            {
                job.Audio = audio.IsSuccessStatusCode ? await audio.Content.ReadAsByteArrayAsync() : null;
                job.Status = audio.IsSuccessStatusCode ? "processing" : "error";
            }
            jobs[job.Id] = job;
            return Results.Json(new JsonObject { ["id"] = job.Id, ["result_url"] = new Uri(BaseAddress, $"v2/pre-recorded/{job.Id}").ToString() }, statusCode: 201);
        });
        app.MapGet("/v2/pre-recorded/{id}", (HttpRequest request, string id) =>
        {
            if (request.Headers[GladiaClient.ApiKeyHeader] != ApiKey) return Error(401, "Invalid API key");
            if (!jobs.TryGetValue(id, out var job)) return Error(404, "Not found");
            var utterances = new JsonArray([.. job.Utterances.Select(u => (JsonNode)new JsonObject
            {
                ["start"] = u.Start, ["end"] = u.End, ["confidence"] = 0.9, ["channel"] = 0, ["speaker"] = u.Speaker, ["words"] = new JsonArray(),
                ["text"] = u.Text, ["language"] = "en",
            })]);
            return Results.Json(new JsonObject
            {
                ["id"] = id, ["request_id"] = "G-" + id[..8], ["version"] = 2, ["status"] = job.Status, ["kind"] = "pre-recorded",
                ["error_code"] = job.Status == "error" ? 500 : null,
                ["result"] = job.Status != "done" ? null : new JsonObject
                {
                    ["metadata"] = new JsonObject { ["audio_duration"] = 60, ["number_of_distinct_channels"] = 1 },
                    ["transcription"] = new JsonObject { ["full_transcript"] = string.Join(' ', job.Utterances.Select(u => u.Text)), ["utterances"] = utterances },
                },
            });
        });
    }

    public static async Task<FakeGladia> StartAsync()
    {
        var fake = new FakeGladia();
        fake.BaseAddress = await LoopbackServer.StartAsync(fake.app);
        return fake;
    }

    public IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Gladia:ApiKey"] = ApiKey, ["Gladia:ApiUrl"] = BaseAddress.ToString(),
    };

    int unavailableStarts, refusedStarts;

    /// <summary>The next <paramref name="count"/> requests to start a job get a 503 (Gladia down).</summary>
    public void UnavailableFor(int count) => Volatile.Write(ref unavailableStarts, count);

    /// <summary>The next request to start a job is refused (400), as Gladia refuses a file it cannot read.</summary>
    public void RefuseNext() => Volatile.Write(ref refusedStarts, 1);

    public IReadOnlyList<Job> Jobs => [.. jobs.Values];

    public IReadOnlyList<Job> JobsFor(Guid recordingId) =>
        [.. jobs.Values.Where(j => j.Request["custom_metadata"]?["recording_id"]?.GetValue<string>() == recordingId.ToString())];

    /// <summary>The job is done with these utterances (speakers numbered from 0, as diarization gives them).</summary>
    public void Complete(Job job, params (int Speaker, double Start, double End, string Text)[] utterances)
    {
        job.Utterances.AddRange(utterances);
        job.Status = "done";
    }

    /// <summary>
    /// Gladia's callback for the job, as a request to the app: the job's callback link (path and query: the app's PUBLIC_URL is not
    /// where the test's app listens) with Gladia's body.
    /// </summary>
    public static HttpRequestMessage Callback(Job job, string eventName = "transcription.success", string? pathAndQuery = null)
    {
        var body = new JsonObject { ["id"] = job.Id, ["event"] = eventName, ["custom_metadata"] = job.Request["custom_metadata"]?.DeepClone() };
        if (eventName == "transcription.error") body["error"] = new JsonObject { ["status_code"] = 422, ["message"] = "audio could not be decoded" };
        else body["payload"] = new JsonObject { ["metadata"] = new JsonObject { ["audio_duration"] = 60 } };
        return new HttpRequestMessage(HttpMethod.Post, pathAndQuery ?? job.CallbackUrl.PathAndQuery)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
    }

    static IResult Error(int status, string message) =>
        Results.Json(new JsonObject { ["statusCode"] = status, ["message"] = message }, statusCode: status);

    public async ValueTask DisposeAsync()
    {
        downloads.Dispose();
        await app.DisposeAsync();
    }
}
