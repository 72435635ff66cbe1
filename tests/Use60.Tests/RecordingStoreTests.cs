using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Use60.Data;
using Use60.Orgs;
using Use60.Privacy;
using Use60.Recordings;
using Use60.Tests.Infrastructure;

namespace Use60.Tests;

/// <summary>
/// The recording store against a real s3rver on 127.0.0.1 (scripts/test.sh starts it: USE60_TEST_S3_URL) and the local-folder
/// store behind the real app. The media comes from a loopback HTTP server, so a store reads an HTTP response as in production.
/// </summary>
public sealed class RecordingStoreTests : IAsyncLifetime
{
    const long TwelveAndAHalfMiB = 12 * 1024 * 1024 + 512 * 1024;
    const long SevenMiB = 7 * 1024 * 1024;
    static readonly Guid OrgA = Guid.Parse("0a000000-0000-0000-0000-00000000000a"), OrgB = Guid.Parse("0b000000-0000-0000-0000-00000000000b");
    static readonly Guid Rep = Guid.Parse("00000000-0000-0000-0000-0000000000e1");

    readonly WebApplication media = LoopbackServer.Create();
    readonly HttpClient http = new();
    Uri mediaUrl = null!;

    public async Task InitializeAsync()
    {
        GeneratedMedia.MapServer(media);
        mediaUrl = await LoopbackServer.StartAsync(media);
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        await media.DisposeAsync();
    }

    /// <summary>The provider's media as an HTTP response body: not seekable, length unknown to the store.</summary>
    async Task<Stream> MediaAsync(long length, ulong seed = 60, long? dropAfter = null)
    {
        var response = await http.GetAsync(new Uri(mediaUrl, $"media/{length}?seed={seed}" + (dropAfter is { } n ? $"&dropAfter={n}" : "")),
            HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadAsStreamAsync();
        Assert.False(body.CanSeek);
        return body;
    }

    static string VideoKey(Guid org) => RecordingKeys.For(org, Rep, Guid.NewGuid(), RecordingKeys.Video);

    [Fact]
    public void Keys_follow_the_layout_and_name_their_org()
    {
        var recording = Guid.Parse("7e000000-0000-0000-0000-000000000007");
        var key = RecordingKeys.For(OrgA, Rep, recording, RecordingKeys.Audio);
        Assert.Equal($"meeting-recordings/{OrgA}/{Rep}/{recording}/audio.mp3", key);
        Assert.True(RecordingKeys.TryGetOrg(key, out var org));
        Assert.Equal(OrgA, org);
        Assert.False(RecordingKeys.TryGetOrg("meeting-recordings/not-a-guid/x/video.mp4", out _));
        Assert.False(RecordingKeys.TryGetOrg($"other/{OrgA}/x/video.mp4", out _));
        Assert.Throws<ArgumentException>(() => RecordingKeys.For(OrgA, Rep, recording, "notes.txt"));
        Assert.True(RecordingKeys.IsSafe(key));
        foreach (var bad in new[] { "", "/etc/passwd", "meeting-recordings/../../etc/passwd", "a//b", "a/./b", "a\\b", "a/b/", "a b" })
            Assert.False(RecordingKeys.IsSafe(bad), bad);
    }

    // ---- S3 (s3rver) ----

    [Fact]
    public async Task A_recording_of_three_parts_streams_from_an_http_response_into_s3_byte_exact()
    {
        await using var s3 = await S3Test.CreateAsync();
        var key = VideoKey(OrgA);

        var size = await s3.Store.UploadAsync(key, await MediaAsync(TwelveAndAHalfMiB), "video/mp4", default);

        Assert.Equal(TwelveAndAHalfMiB, size);
        // 5 + 5 + 2.5 MiB: one multipart upload of three parts, no single PUT, completed once.
        Assert.Equal(1, s3.Http.Count("POST", "uploads"));
        Assert.Equal(3, s3.Http.Count("PUT", "partNumber"));
        Assert.Equal(1, s3.Http.Count("POST", "uploadId"));
        Assert.Equal(0, s3.Http.Count("DELETE", "uploadId"));
        var head = await s3.Client.GetObjectMetadataAsync(s3.Bucket, key);
        Assert.Equal((TwelveAndAHalfMiB, "video/mp4"), (head.ContentLength, head.Headers.ContentType));
        Assert.Equal([new StoredRecording(key, TwelveAndAHalfMiB)], await s3.Store.ListAsync(RecordingKeys.OrgPrefix(OrgA)).ToListAsync());

        // Downloaded through a 15-minute presigned link, by a client with no credentials: the same bytes.
        var link = s3.Store.PresignGet(key, TimeSpan.FromMinutes(15));
        Assert.StartsWith($"{S3Test.Endpoint.TrimEnd('/')}/{s3.Bucket}/meeting-recordings/", link.ToString());
        // 900 s, give or take the second the SDK's clock-skew correction may add.
        Assert.InRange(int.Parse(System.Web.HttpUtility.ParseQueryString(link.Query)["X-Amz-Expires"]!), 898, 902);
        using var download = await http.GetAsync(link);
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal(GeneratedMedia.Sha256(TwelveAndAHalfMiB), SHA256.HashData(await download.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task A_recording_under_one_part_is_a_single_put_and_reads_back()
    {
        await using var s3 = await S3Test.CreateAsync();
        var key = RecordingKeys.For(OrgA, Rep, Guid.NewGuid(), RecordingKeys.Thumbnail);

        Assert.Equal(300_000, await s3.Store.UploadAsync(key, await MediaAsync(300_000, seed: 7), "image/jpeg", default));

        Assert.Equal((1, 0), (s3.Http.Count("PUT", null), s3.Http.Count("POST", "uploads")));
        await using var read = await s3.Store.OpenReadAsync(key);
        Assert.Equal(GeneratedMedia.Sha256(300_000, seed: 7), SHA256.HashData(read!));
        Assert.Null(await s3.Store.OpenReadAsync(key + ".missing"));
    }

    [Fact]
    public async Task A_source_that_drops_after_7_MiB_aborts_the_multipart_upload_and_leaves_nothing()
    {
        await using var s3 = await S3Test.CreateAsync();
        var key = VideoKey(OrgA);

        var failure = await Assert.ThrowsAsync<RecordingUploadException>(async () =>
            await s3.Store.UploadAsync(key, await MediaAsync(TwelveAndAHalfMiB, dropAfter: SevenMiB), "video/mp4", default));

        Assert.Equal(RecordingUploadFailure.Source, failure.Failure);
        Assert.Contains("reading the recording failed after 5.0 MiB", failure.Message);
        Assert.DoesNotContain("S3RVER", failure.Message);
        Assert.Equal(1, s3.Http.Count("DELETE", "uploadId"));
        await AssertNothingLeftAsync(s3, key);
    }

    [Fact]
    public async Task A_part_s3_refuses_aborts_the_multipart_upload_and_says_what_s3_said()
    {
        await using var s3 = await S3Test.CreateAsync();
        s3.Http.Refuse = request => request.Method == HttpMethod.Put && request.RequestUri!.Query.Contains("partNumber=2");
        var key = VideoKey(OrgA);

        var failure = await Assert.ThrowsAsync<RecordingUploadException>(async () =>
            await s3.Store.UploadAsync(key, await MediaAsync(TwelveAndAHalfMiB), "video/mp4", default));

        Assert.Equal(RecordingUploadFailure.Store, failure.Failure);
        Assert.Contains("while sending part 2: AccessDenied (HTTP 403)", failure.Reason);
        Assert.Equal(1, s3.Http.Count("DELETE", "uploadId"));
        await AssertNothingLeftAsync(s3, key);
    }

    [Fact]
    public async Task A_cancelled_upload_is_aborted_too_and_stays_a_cancellation()
    {
        await using var s3 = await S3Test.CreateAsync();
        using var cancel = new CancellationTokenSource();
        var key = VideoKey(OrgA);
        var source = new CancelAfter(await MediaAsync(TwelveAndAHalfMiB), SevenMiB, cancel);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => s3.Store.UploadAsync(key, source, "video/mp4", cancel.Token));

        Assert.Equal(1, s3.Http.Count("DELETE", "uploadId"));
        await AssertNothingLeftAsync(s3, key);
    }

    [Fact]
    public async Task A_missing_bucket_is_a_store_failure_that_names_the_bucket_and_no_secret()
    {
        await using var s3 = await S3Test.CreateAsync();
        using var store = new S3RecordingStore(S3Test.Options("no-such-bucket-here"), s3.Client, TimeProvider.System, NullLogger<S3RecordingStore>.Instance);

        var failure = await Assert.ThrowsAsync<RecordingUploadException>(async () =>
            await store.UploadAsync(VideoKey(OrgA), await MediaAsync(TwelveAndAHalfMiB), "video/mp4", default));

        Assert.Equal(RecordingUploadFailure.Store, failure.Failure);
        Assert.Contains("s3://no-such-bucket-here failed while starting the multipart upload: NoSuchBucket (HTTP 404)", failure.Message);
        Assert.DoesNotContain("S3RVER", failure.Message);
    }

    static async Task AssertNothingLeftAsync(S3Test s3, string key)
    {
        var pending = await s3.Client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = s3.Bucket, Prefix = RecordingKeys.Root });
        Assert.Empty(pending.MultipartUploads ?? []);
        Assert.Empty(await s3.Store.ListAsync(RecordingKeys.Root).ToListAsync());
        Assert.Null(await s3.Store.OpenReadAsync(key));
    }

    [Fact]
    public async Task A_presigned_link_is_refused_once_it_has_expired()
    {
        await using var s3 = await S3Test.CreateAsync();
        var key = VideoKey(OrgA);
        await s3.Store.UploadAsync(key, await MediaAsync(1000), "video/mp4", default);

        // S3 (and s3rver) judge a presigned link's age by their own clock, so this one waits for a 1-second link to run out.
        var link = s3.Store.PresignGet(key, TimeSpan.FromSeconds(1));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        using var expired = await http.GetAsync(link);
        Assert.Equal(HttpStatusCode.Forbidden, expired.StatusCode);
        Assert.Contains("Request has expired", await expired.Content.ReadAsStringAsync());
        using var fresh = await http.GetAsync(s3.Store.PresignGet(key, TimeSpan.FromMinutes(15)));
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
    }

    [Fact]
    public async Task The_storage_meter_sums_each_orgs_objects_in_the_bucket()
    {
        await using var s3 = await S3Test.CreateAsync();
        await AssertMeterAsync(s3.Store);
    }

    /// <summary>Two orgs' files, and two objects that are no org's: the meter and the listings see exactly what they should; delete works.</summary>
    async Task AssertMeterAsync(IRecordingStore store)
    {
        var a1 = VideoKey(OrgA);
        var a2 = RecordingKeys.For(OrgA, Guid.NewGuid(), Guid.NewGuid(), RecordingKeys.Audio);
        var b1 = VideoKey(OrgB);
        foreach (var (key, size) in new[] { (a1, 6_000_000L), (a2, 1_000L), (b1, 2_500L), ("meeting-recordings/not-an-org/x/video.mp4", 10L), ("elsewhere/video.mp4", 20L) })
            await store.UploadAsync(key, await MediaAsync(size), "video/mp4", default);

        var bytes = await new RecordingStorageMeter(store).BytesByOrgAsync(default);
        Assert.Equal(new Dictionary<Guid, long> { [OrgA] = 6_001_000, [OrgB] = 2_500 }, bytes);
        Assert.Equal(new[] { a1, a2 }.Order(StringComparer.Ordinal).Select(k => (k, k == a1 ? 6_000_000L : 1_000L)),
            (await store.ListAsync(RecordingKeys.OrgPrefix(OrgA)).ToListAsync()).Select(o => (o.Key, o.Size)));

        await store.DeleteAsync(a1);
        await store.DeleteAsync(a1); // erasure asked twice
        Assert.Equal(1_000, (await new RecordingStorageMeter(store).BytesByOrgAsync(default))[OrgA]);
        Assert.Null(await store.OpenReadAsync(a1));
    }

    // ---- the local folder, behind the real app ----

    [Fact]
    public async Task The_local_store_keeps_the_same_bytes_and_leaves_no_file_when_the_source_fails()
    {
        using var folder = new TempFolder();
        var store = LocalStore(folder.Path, TimeProvider.System);
        var key = VideoKey(OrgA);

        Assert.Equal(TwelveAndAHalfMiB, await store.UploadAsync(key, await MediaAsync(TwelveAndAHalfMiB), "video/mp4", default));
        await using (var read = await store.OpenReadAsync(key))
            Assert.Equal(GeneratedMedia.Sha256(TwelveAndAHalfMiB), SHA256.HashData(read!));

        var broken = VideoKey(OrgA);
        var failure = await Assert.ThrowsAsync<RecordingUploadException>(async () =>
            await store.UploadAsync(broken, await MediaAsync(TwelveAndAHalfMiB, dropAfter: SevenMiB), "video/mp4", default));
        Assert.Equal(RecordingUploadFailure.Source, failure.Failure);
        Assert.Null(await store.OpenReadAsync(broken));
        // Only the first recording's file is left: nothing under the broken key, nothing half-written in .incoming.
        Assert.Equal([Path.Combine(folder.Path, key)], Directory.GetFiles(folder.Path, "*", SearchOption.AllDirectories));
        Assert.Equal([new StoredRecording(key, TwelveAndAHalfMiB)], await store.ListAsync(RecordingKeys.Root).ToListAsync());
    }

    [Fact]
    public async Task The_local_storage_meter_sums_each_orgs_files()
    {
        using var folder = new TempFolder();
        await AssertMeterAsync(LocalStore(folder.Path, TimeProvider.System));
    }

    [Fact]
    public async Task The_app_serves_a_local_recording_only_through_an_unexpired_untampered_link_with_ranges()
    {
        using var folder = new TempFolder();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
        await using var database = await TestDatabase.CreateAsync();
        await using var app = new Use60App(database, new Dictionary<string, string?>
        {
            ["S3:LocalRoot"] = folder.Path,
            ["Privacy:MasterKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        }, clock);
        var store = Assert.IsType<LocalRecordingStore>(app.Service<IRecordingStore>());
        var key = VideoKey(OrgA);
        await store.UploadAsync(key, await MediaAsync(TwelveAndAHalfMiB), "video/mp4", default);
        using var client = app.Client();
        Uri OnApp(Uri link) => new(app.BaseAddress, link.PathAndQuery);

        var link = OnApp(store.PresignGet(key, TimeSpan.FromMinutes(15)));
        Assert.StartsWith("/recordings/files/meeting-recordings/", link.AbsolutePath);
        using (var ok = await client.GetAsync(link))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal("video/mp4", ok.Content.Headers.ContentType?.MediaType);
            Assert.Equal(GeneratedMedia.Sha256(TwelveAndAHalfMiB), SHA256.HashData(await ok.Content.ReadAsByteArrayAsync()));
        }
        // A player seeks with a range request.
        using (var range = new HttpRequestMessage(HttpMethod.Get, link) { Headers = { Range = new(6_000_000, 6_000_099) } })
        using (var partial = await client.SendAsync(range))
        {
            Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
            Assert.Equal(GeneratedMedia.Bytes(6_000_100).AsSpan(6_000_000).ToArray(), await partial.Content.ReadAsByteArrayAsync());
        }

        var query = System.Web.HttpUtility.ParseQueryString(link.Query);
        var other = VideoKey(OrgB);
        var refused = new[]
        {
            new Uri(link.GetLeftPart(UriPartial.Path) + $"?expires={query["expires"]}&sig={Flip(query["sig"]!)}"),           // altered signature
            new Uri(link.GetLeftPart(UriPartial.Path) + $"?expires={long.Parse(query["expires"]!) + 3600}&sig={query["sig"]}"), // longer life
            new Uri(app.BaseAddress, $"/recordings/files/{other}{link.Query}"),                                              // another key
            new Uri(link.GetLeftPart(UriPartial.Path)),                                                                      // unsigned
            new Uri(link.GetLeftPart(UriPartial.Path) + $"?expires={query["expires"]}&sig=%21%21%21%21"),                    // not even base64url
            new Uri(app.BaseAddress, $"/recordings/files/meeting-recordings/..%2F..%2F..%2Fetc%2Fpasswd{link.Query}"),        // out of the folder
        };
        foreach (var bad in refused)
        {
            using var response = await client.GetAsync(bad);
            Assert.True(response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound, $"{bad}: {response.StatusCode}");
            Assert.DoesNotContain(folder.Path, await response.Content.ReadAsStringAsync());
        }

        // A valid link to a key with no file: 404, no path.
        using (var missing = await client.GetAsync(OnApp(store.PresignGet(other, TimeSpan.FromMinutes(15)))))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.DoesNotContain(folder.Path, await missing.Content.ReadAsStringAsync());
        }

        clock.Advance(TimeSpan.FromMinutes(15));
        using (var expired = await client.GetAsync(link))
            Assert.Equal(HttpStatusCode.Forbidden, expired.StatusCode);

        // The daily storage metrics read this store through the registered meter: the org's bytes are recorded, and OrgA's
        // file (no such org in the database) is passed over rather than failing the job.
        Assert.Contains(app.Service<IEnumerable<IStorageMeter>>(), meter => meter is RecordingStorageMeter);
        var org = await TestData.CreateOrgAsync(app.Services, "Recorders", UserRole.Owner);
        await store.UploadAsync(VideoKey(org.Id), await MediaAsync(1_000), "video/mp4", default);
        using (var scope = app.Services.CreateScope())
            Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<StorageMetrics>().RecordAsync(default));
        await using var db = app.Service<SystemDb>().Open("test");
        Assert.Equal(Math.Round(1_000m / (1024m * 1024m * 1024m), 6), await db.Database.SqlQuery<decimal>(
            $"SELECT value AS \"Value\" FROM s3_usage_metrics WHERE org_id = {org.Id} AND metric_type = 'storage_gb'").SingleAsync());
    }

    static string Flip(string signature) => (signature[0] == 'A' ? 'B' : 'A') + signature[1..];

    static LocalRecordingStore LocalStore(string root, TimeProvider clock)
    {
        // Links are signed with a key derived from the master key (SecretBox.KeyFor): no database, no org keys involved.
        var options = Options.Create(new MasterKeyOptions { MasterKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
        var masters = new MasterKeys(options);
        var keyring = new OrgKeyring(new Data.Use60DataSources(Options.Create(new Data.DatabaseOptions())), masters, clock);
        return new(root, new Uri("http://127.0.0.1:5175/"), new SecretBox(options, masters, keyring), clock, NullLogger<LocalRecordingStore>.Instance);
    }

    /// <summary>Reads through to <paramref name="inner"/> and cancels <paramref name="cancel"/> once <paramref name="after"/> bytes are read.</summary>
    sealed class CancelAfter(Stream inner, long after, CancellationTokenSource cancel) : Stream
    {
        long read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (read >= after) await cancel.CancelAsync();
            var count = await inner.ReadAsync(buffer, cancellationToken);
            read += count;
            return count;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>A fresh bucket on the tests' s3rver, a store on it, and every HTTP request the store's client makes.</summary>
public sealed class S3Test : IAsyncDisposable
{
    public static string Endpoint => TestDatabase.Env("USE60_TEST_S3_URL");

    public required string Bucket { get; init; }
    public required IAmazonS3 Client { get; init; }
    public required S3RecordingStore Store { get; init; }
    public required S3Requests Http { get; init; }

    public static S3Options Options(string bucket) => new()
    {
        Region = "us-east-1",
        Bucket = bucket,
        EndpointUrl = Endpoint,
        AccessKeyId = "S3RVER",
        SecretAccessKey = "S3RVER", // s3rver's only account
    };

    public static async Task<S3Test> CreateAsync()
    {
        var bucket = "t-" + Guid.NewGuid().ToString("N")[..16];
        var requests = new S3Requests();
        var client = S3RecordingStore.CreateClient(Options(bucket), requests);
        await client.PutBucketAsync(bucket);
        requests.Clear();
        return new S3Test
        {
            Bucket = bucket,
            Client = client,
            Store = new S3RecordingStore(Options(bucket), client, TimeProvider.System, NullLogger<S3RecordingStore>.Instance),
            Http = requests,
        };
    }

    public ValueTask DisposeAsync()
    {
        Client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The S3 client's HTTP: records each request's method and query, and can answer chosen ones with S3's AccessDenied.</summary>
public sealed class S3Requests : HttpClientFactory
{
    readonly ConcurrentQueue<(string Method, string Query)> requests = new();

    public Func<HttpRequestMessage, bool>? Refuse { get; set; }

    public void Clear() => requests.Clear();

    /// <summary>Requests with this method whose query has this parameter (any query when null).</summary>
    public int Count(string method, string? parameter) =>
        requests.Count(r => r.Method == method && (parameter is null || r.Query.TrimStart('?').Split('&').Any(p => p.Split('=')[0] == parameter)));

    public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Recorder(this, new SocketsHttpHandler()));

    public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;

    public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

    sealed class Recorder(S3Requests owner, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            owner.requests.Enqueue((request.Method.Method, request.RequestUri!.Query));
            if (owner.Refuse?.Invoke(request) != true) return base.SendAsync(request, cancellationToken);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Forbidden)
            {
                RequestMessage = request,
                Content = new StringContent("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                    System.Text.Encoding.UTF8, "application/xml"),
            });
        }
    }
}

sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("use60-recordings-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
