using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Use60.Recordings;
using Use60.Tests.Infrastructure;

namespace Use60.Bench;

/// <summary>
/// scripts/bench.sh upload: a recording streamed from an HTTP response into s3rver through <see cref="S3RecordingStore.UploadAsync"/>,
/// exactly as the upload queue does, at --small-mib (100) and --large-mib (1024) MiB, beside a raw PutObject of the same bytes to the
/// same s3rver as the reference. The media comes from a loopback Kestrel server in this process (<see cref="GeneratedMedia"/>:
/// incompressible bytes made as they are sent). For each upload: the throughput, and the growth of this process's working set
/// (sampled every 5 ms) over what it was just before. Each size runs --runs times (3), store and raw PUT alternating; the medians of
/// the throughputs and the largest growth are reported. Exits non-zero if the growth reaches <see cref="GrowthLimitMb"/> at either
/// size, grows with the size (the large upload's growth more than <see cref="ScalingSlackMb"/> over the small one's), or the
/// store's throughput at the large size is under <see cref="MinShareOfRaw"/> of the raw PUT's.
/// </summary>
public static class UploadBench
{
    public const string Usage = "upload [--small-mib N] [--large-mib N] [--runs N] [--out FILE]";
    const double GrowthLimitMb = 64, ScalingSlackMb = 16, MinShareOfRaw = 0.8;
    const double Mb = 1_000_000, MiB = 1024 * 1024;

    /// <summary>One upload: its seconds, the seconds of them s3rver spent completing the multipart upload, and the memory growth.</summary>
    sealed record Measure(double Seconds, double CompleteSeconds, double GrowthMb)
    {
        public double MbPerSecond(long bytes) => bytes / Mb / Seconds;
        public double MbPerSecondBeforeComplete(long bytes) => bytes / Mb / (Seconds - CompleteSeconds);
    }

    sealed record SizeResult(long Bytes, IReadOnlyList<Measure> Store, IReadOnlyList<Measure> Raw)
    {
        public double StoreMbS => Median(Store.Select(m => m.MbPerSecond(Bytes)));
        public double StoreBeforeCompleteMbS => Median(Store.Select(m => m.MbPerSecondBeforeComplete(Bytes)));
        public double CompleteSeconds => Median(Store.Select(m => m.CompleteSeconds));
        public double RawMbS => Median(Raw.Select(m => m.MbPerSecond(Bytes)));
        public double GrowthMb => Store.Max(m => m.GrowthMb);
        public double RawGrowthMb => Raw.Max(m => m.GrowthMb);
        public double Share => StoreMbS / RawMbS;
        public string Label => Bytes % (1L << 30) == 0 ? $"{Bytes >> 30} GiB" : $"{Bytes / MiB:0} MiB";
    }

    public static async Task<int> MainAsync(BenchOptions options)
    {
        var (small, large, runs) = (options.Number("--small-mib", 100), options.Number("--large-mib", 1024), options.Number("--runs", 3));
        if (small < 1 || large <= small || runs < 1)
        {
            Console.Error.WriteLine("--small-mib must be at least 1, --large-mib larger than it, --runs at least 1");
            return 2;
        }
        var endpoint = Environment.GetEnvironmentVariable("USE60_BENCH_S3_URL") is { Length: > 0 } url
            ? url
            : throw new InvalidOperationException("USE60_BENCH_S3_URL is not set: run the bench with scripts/bench.sh, which starts the s3rver it needs.");
        var s3Options = new S3Options
        {
            Region = "us-east-1", Bucket = "use60-bench", EndpointUrl = endpoint, AccessKeyId = "S3RVER", SecretAccessKey = "S3RVER",
        };
        var completing = new CompleteTimer();
        using var client = S3RecordingStore.CreateClient(s3Options, completing);
        await client.PutBucketAsync(s3Options.Bucket);
        using var store = new S3RecordingStore(s3Options, client, TimeProvider.System, NullLogger<S3RecordingStore>.Instance);
        await using var media = LoopbackServer.Create();
        GeneratedMedia.MapServer(media);
        var mediaUrl = await LoopbackServer.StartAsync(media);
        using var http = new HttpClient();
        var load = BenchResults.LoadAverage();
        Console.WriteLine($"upload: s3rver at {endpoint}, media from {mediaUrl}; {runs} run(s) a size, load average {load?.ToString("0.0", CultureInfo.InvariantCulture) ?? "?"}");

        // Warm up the SDK, HTTP connections and the code paths on a few parts, so the first measured upload is not also timing the JIT.
        await StoreAsync(store, completing, http, mediaUrl, 12 * (long)MiB, "bench/warm-up");
        await RawAsync(client, completing, s3Options.Bucket, 12 * (long)MiB, "bench/warm-up-raw");

        var results = new List<SizeResult>();
        foreach (var bytes in new[] { small * (long)MiB, large * (long)MiB })
        {
            var (stored, raw) = (new List<Measure>(), new List<Measure>());
            for (var run = 1; run <= runs; run++)
            {
                stored.Add(await StoreAsync(store, completing, http, mediaUrl, bytes, $"bench/{bytes}/use60-{run}"));
                raw.Add(await RawAsync(client, completing, s3Options.Bucket, bytes, $"bench/{bytes}/raw-{run}"));
                Console.WriteLine($"  {bytes / MiB:0} MiB run {run}: use60 {stored[^1].MbPerSecond(bytes):0.0} MB/s " +
                                  $"(s3rver completing: {stored[^1].CompleteSeconds:0.00} of {stored[^1].Seconds:0.00} s), +{stored[^1].GrowthMb:0.0} MB; " +
                                  $"raw PUT {raw[^1].MbPerSecond(bytes):0.0} MB/s, +{raw[^1].GrowthMb:0.0} MB");
            }
            results.Add(new SizeResult(bytes, stored, raw));
        }
        var loadAfter = BenchResults.LoadAverage();

        var (first, last) = (results[0], results[^1]);
        var problems = new List<string>();
        foreach (var result in results.Where(r => r.GrowthMb >= GrowthLimitMb))
            problems.Add($"memory grew {result.GrowthMb:0.0} MB during the {result.Label} upload (limit {GrowthLimitMb:0} MB)");
        if (last.GrowthMb > first.GrowthMb + ScalingSlackMb)
            problems.Add($"memory growth scales with the size: +{first.GrowthMb:0.0} MB at {first.Label}, +{last.GrowthMb:0.0} MB at {last.Label}");
        if (last.Share < MinShareOfRaw)
            problems.Add($"use60 reached {last.Share:P0} of the raw PUT's throughput at {last.Label} (target {MinShareOfRaw:P0})");
        Print(results, problems, load, loadAfter);

        await BenchResults.WriteAsync(new JsonObject
        {
            ["mem_growth_mb_100mib"] = Math.Round(first.GrowthMb, 1),
            ["mem_growth_mb_1gib"] = Math.Round(last.GrowthMb, 1),
            ["throughput_mb_s"] = Math.Round(last.StoreMbS, 1),
            ["raw_put_mb_s"] = Math.Round(last.RawMbS, 1),
            ["throughput_share_of_raw"] = Math.Round(last.Share, 3),
            ["runs_per_size"] = runs,
            ["part_mib"] = RecordingUpload.PartSize / MiB,
            ["targets"] = new JsonObject { ["mem_growth_mb_below"] = GrowthLimitMb, ["scaling_slack_mb"] = ScalingSlackMb, ["min_share_of_raw"] = MinShareOfRaw },
            ["all_ok"] = problems.Count == 0,
            ["problems"] = new JsonArray(problems.Select(p => (JsonNode)p).ToArray()),
            // Each size in full, with s3rver's CompleteMultipartUpload time and use60's throughput before it.
            ["sizes"] = new JsonArray(results.Select(r => (JsonNode)new JsonObject
            {
                ["mib"] = r.Bytes / MiB,
                ["use60_mb_s"] = Math.Round(r.StoreMbS, 1),
                ["raw_put_mb_s"] = Math.Round(r.RawMbS, 1),
                ["share_of_raw"] = Math.Round(r.Share, 3),
                ["use60_complete_s"] = Math.Round(r.CompleteSeconds, 2),
                ["use60_before_complete_mb_s"] = Math.Round(r.StoreBeforeCompleteMbS, 1),
                ["use60_before_complete_share_of_raw"] = Math.Round(r.StoreBeforeCompleteMbS / r.RawMbS, 3),
                ["use60_mem_growth_mb"] = Math.Round(r.GrowthMb, 1),
                ["raw_put_mem_growth_mb"] = Math.Round(r.RawGrowthMb, 1),
                ["use60_runs_mb_s"] = new JsonArray(r.Store.Select(m => (JsonNode)Math.Round(m.MbPerSecond(r.Bytes), 1)).ToArray()),
                ["raw_put_runs_mb_s"] = new JsonArray(r.Raw.Select(m => (JsonNode)Math.Round(m.MbPerSecond(r.Bytes), 1)).ToArray()),
            }).ToArray()),
            ["load_average_before"] = load,
            ["load_average_after"] = loadAfter,
            ["note"] = "MB = 10^6 bytes; memory growth = peak working set during the upload (sampled every 5 ms) minus the working set just before it",
        }, options.Output("upload.json"));
        return problems.Count == 0 ? 0 : 1;
    }

    /// <summary>The upload queue's path: the provider's HTTP response, not seekable, streamed by the store.</summary>
    static async Task<Measure> StoreAsync(S3RecordingStore store, CompleteTimer completing, HttpClient http, Uri mediaUrl, long bytes, string key)
    {
        return await MeasureAsync(completing, async () =>
        {
            using var response = await http.GetAsync(new Uri(mediaUrl, $"media/{bytes}"), HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            await using var body = await response.Content.ReadAsStreamAsync();
            var size = await store.UploadAsync(key, body, "video/mp4", CancellationToken.None);
            if (size != bytes) throw new InvalidOperationException($"The store kept {size} bytes of {bytes}.");
        }, () => store.DeleteAsync(key));
    }

    /// <summary>The reference: one PutObject of the same bytes, from a stream the SDK can read twice (to sign the body, then send it).</summary>
    static Task<Measure> RawAsync(IAmazonS3 client, CompleteTimer completing, string bucket, long bytes, string key) =>
        MeasureAsync(completing, async () =>
        {
            await using var body = new GeneratedMedia(bytes, seekable: true);
            await client.PutObjectAsync(new PutObjectRequest
            {
                BucketName = bucket, Key = key, InputStream = body, ContentType = "video/mp4", UseChunkEncoding = false,
            });
        }, () => client.DeleteObjectAsync(bucket, key));

    static async Task<Measure> MeasureAsync(CompleteTimer completing, Func<Task> upload, Func<Task> cleanUp)
    {
        completing.Reset();
        using var process = Process.GetCurrentProcess();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        process.Refresh();
        var before = process.WorkingSet64;
        var peak = before;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(5));
            while (await timer.WaitForNextTickAsync(CancellationToken.None) && !sampling.IsCancellationRequested)
            {
                process.Refresh();
                peak = Math.Max(peak, process.WorkingSet64);
            }
        });
        var watch = Stopwatch.StartNew();
        await upload();
        var seconds = watch.Elapsed.TotalSeconds;
        await sampling.CancelAsync();
        await sampler;
        process.Refresh();
        peak = Math.Max(peak, process.WorkingSet64);
        await cleanUp();
        return new Measure(seconds, completing.Seconds, (peak - before) / Mb);
    }

    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    static void Print(IReadOnlyList<SizeResult> results, IReadOnlyList<string> problems, double? loadBefore, double? loadAfter)
    {
        Console.WriteLine();
        Console.WriteLine("size      use60 MB/s  raw PUT MB/s  use60/raw  s3rver completing s  use60 before completing MB/s  use60 mem growth MB  raw PUT mem growth MB");
        foreach (var r in results)
            Console.WriteLine($"{r.Label,-8}  {r.StoreMbS,10:0.0}  {r.RawMbS,12:0.0}  {r.Share,9:P0}  {r.CompleteSeconds,19:0.00}  {r.StoreBeforeCompleteMbS,28:0.0}  " +
                              $"{r.GrowthMb,19:0.0}  {r.RawGrowthMb,21:0.0}");
        Console.WriteLine();
        var (first, last) = (results[0], results[^1]);
        Console.WriteLine($"memory growth {last.Label} / {first.Label}: {last.GrowthMb / Math.Max(first.GrowthMb, 0.1):0.00}x for {(double)last.Bytes / first.Bytes:0.#}x the bytes; " +
                          $"load average {loadBefore:0.0} before, {loadAfter:0.0} after");
        Console.WriteLine($"s3rver spent {last.CompleteSeconds:0.0} s of the {last.Label} upload's {Median(last.Store.Select(m => m.Seconds)):0.0} s completing the " +
                          "multipart upload (it copies every part into the object, which S3 does not); before that step use60 moved the bytes at " +
                          $"{last.StoreBeforeCompleteMbS:0.0} MB/s, {last.StoreBeforeCompleteMbS / last.RawMbS:P0} of the raw PUT");
        Console.WriteLine(problems.Count == 0
            ? $"ok: growth under {GrowthLimitMb:0} MB at both sizes and flat with size; use60 at {last.Share:P0} of the raw PUT (target {MinShareOfRaw:P0})"
            : "FAILED: " + string.Join("; ", problems));
    }

    /// <summary>
    /// The S3 client's HTTP, timing CompleteMultipartUpload (POST ?uploadId): s3rver answers it by copying every part into the object,
    /// which S3 itself does not, so the bench shows that share of an upload's time apart.
    /// </summary>
    sealed class CompleteTimer : HttpClientFactory
    {
        long ticks;

        public double Seconds => TimeSpan.FromTicks(Interlocked.Read(ref ticks)).TotalSeconds;

        public void Reset() => Interlocked.Exchange(ref ticks, 0);

        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Timer(this, new SocketsHttpHandler()));

        public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;

        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

        sealed class Timer(CompleteTimer owner, HttpMessageHandler inner) : DelegatingHandler(inner)
        {
            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                if (request.Method != HttpMethod.Post || !request.RequestUri!.Query.Contains("uploadId=")) return await base.SendAsync(request, cancellationToken);
                var started = Stopwatch.GetTimestamp();
                var response = await base.SendAsync(request, cancellationToken);
                await response.Content.LoadIntoBufferAsync(cancellationToken);
                Interlocked.Add(ref owner.ticks, Stopwatch.GetElapsedTime(started).Ticks);
                return response;
            }
        }
    }
}
