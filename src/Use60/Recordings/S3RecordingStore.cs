using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;

namespace Use60.Recordings;

/// <summary>
/// Recordings in S3 or an S3-compatible store (AWS_ENDPOINT_URL: path-style). An upload under one part is a single PUT; a larger
/// one is a multipart upload whose next part is read from the source while the previous one is sent, so reading and sending
/// overlap with two part buffers in memory. A failure aborts the multipart upload, so no parts are left to pay for.
/// </summary>
public sealed class S3RecordingStore : IRecordingStore, IDisposable
{
    static readonly TimeSpan AbortTimeout = TimeSpan.FromSeconds(30);

    readonly IAmazonS3 s3;
    readonly string bucket;
    readonly bool compatible;
    readonly Protocol protocol;
    readonly TimeProvider clock;
    readonly ILogger<S3RecordingStore> logger;

    public S3RecordingStore(IOptions<S3Options> options, TimeProvider clock, ILogger<S3RecordingStore> logger)
        : this(options.Value, CreateClient(options.Value, httpClientFactory: null), clock, logger)
    {
    }

    /// <summary>With a client of the caller's (tests and the upload bench watch its requests); build it with <see cref="CreateClient"/>.</summary>
    public S3RecordingStore(S3Options options, IAmazonS3 client, TimeProvider clock, ILogger<S3RecordingStore> logger)
    {
        bucket = options.Bucket ?? throw new ArgumentException("AWS_S3_BUCKET is not set.", nameof(options));
        compatible = !string.IsNullOrWhiteSpace(options.EndpointUrl);
        protocol = compatible && new Uri(options.EndpointUrl!).Scheme == Uri.UriSchemeHttp ? Protocol.HTTP : Protocol.HTTPS;
        s3 = client;
        this.clock = clock;
        this.logger = logger;
    }

    public string Name => $"s3://{bucket}";

    /// <summary>
    /// The client for <paramref name="options"/>: credentials from the two keys, else the SDK's default chain (environment,
    /// profile, the instance's or pod's IAM role). With AWS_ENDPOINT_URL: that endpoint, path-style, and no aws-chunked
    /// streaming signature or trailing checksums, which S3-compatible stores such as s3rver would keep as part of the object.
    /// </summary>
    public static AmazonS3Client CreateClient(S3Options options, HttpClientFactory? httpClientFactory)
    {
        var config = new AmazonS3Config();
        if (httpClientFactory is not null) config.HttpClientFactory = httpClientFactory;
        if (string.IsNullOrWhiteSpace(options.EndpointUrl))
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        else
        {
            config.ServiceURL = options.EndpointUrl;
            config.AuthenticationRegion = options.Region;
            config.ForcePathStyle = true;
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }
        return string.IsNullOrWhiteSpace(options.AccessKeyId)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(options.AccessKeyId, options.SecretAccessKey), config);
    }

    public async Task<long> UploadAsync(string key, Stream source, string contentType, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var current = RecordingUpload.RentPart();
        var next = RecordingUpload.RentPart();
        string? uploadId = null;
        try
        {
            var length = await RecordingUpload.ReadPartAsync(source, current, key, 0, cancellationToken);
            if (length < RecordingUpload.PartSize)
            {
                await StoreAsync(key, "storing it", cancellationToken, token => s3.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = bucket,
                    Key = key,
                    ContentType = contentType,
                    InputStream = new MemoryStream(current, 0, length, writable: false),
                    UseChunkEncoding = !compatible,
                    AutoCloseStream = true,
                }, token));
                Log(key, length, parts: 1, started);
                return length;
            }

            var created = await StoreAsync(key, "starting the multipart upload", cancellationToken, token => s3.InitiateMultipartUploadAsync(
                new InitiateMultipartUploadRequest { BucketName = bucket, Key = key, ContentType = contentType }, token));
            uploadId = created.UploadId;
            var (etags, total) = await SendPartsAsync(key, uploadId, source, current, length, next, cancellationToken);
            await StoreAsync(key, "completing the multipart upload", cancellationToken, token => s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = bucket,
                Key = key,
                UploadId = uploadId,
                PartETags = etags,
            }, token));
            uploadId = null;
            Log(key, total, etags.Count, started);
            return total;
        }
        catch (Exception e) when (uploadId is not null)
        {
            await AbortAsync(key, uploadId, e);
            throw;
        }
        finally
        {
            RecordingUpload.Return(current);
            RecordingUpload.Return(next);
        }
    }

    async Task<PartETag> UploadPartAsync(string key, string uploadId, int partNumber, byte[] buffer, int length, CancellationToken cancellationToken)
    {
        var response = await StoreAsync(key, $"sending part {partNumber}", cancellationToken, token => s3.UploadPartAsync(new UploadPartRequest
        {
            BucketName = bucket,
            Key = key,
            UploadId = uploadId,
            PartNumber = partNumber,
            PartSize = length,
            InputStream = new MemoryStream(buffer, 0, length, writable: false),
            UseChunkEncoding = !compatible,
        }, token));
        return new PartETag(partNumber, response.ETag);
    }

    /// <summary>
    /// The parts of a multipart upload, in two lanes of one buffer each: a lane reads the next part from the source (one lane at a
    /// time, so parts stay in order) and sends it, then reads again. While one lane sends, the other reads or sends too, so the
    /// source and S3 both stay busy with two parts in memory at most. The first failure cancels the other lane, and both have
    /// ended before this returns or throws, so no part can land after the caller aborts the upload.
    /// </summary>
    async Task<(List<PartETag> Parts, long Total)> SendPartsAsync(string key, string uploadId, Stream source, byte[] first, int firstLength,
        byte[] second, CancellationToken cancellationToken)
    {
        var parts = new List<PartETag>();
        using var reading = new SemaphoreSlim(1, 1);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var (nextPart, total, ended) = (2, (long)firstLength, false);
        Exception? failure = null;

        async Task LaneAsync(byte[] buffer, int partNumber, int length)
        {
            try
            {
                while (true)
                {
                    if (partNumber == 0)
                    {
                        await reading.WaitAsync(failed.Token);
                        try
                        {
                            if (ended) return;
                            length = await RecordingUpload.ReadPartAsync(source, buffer, key, total, failed.Token);
                            ended = length < RecordingUpload.PartSize;
                            if (length == 0) return;
                            if (nextPart > RecordingUpload.MaxParts)
                                throw new RecordingUploadException(RecordingUploadFailure.Store, key,
                                    $"the recording is larger than {RecordingUpload.MaxParts:N0} parts of {RecordingUpload.Megabytes(RecordingUpload.PartSize)}");
                            (partNumber, total) = (nextPart++, total + length);
                        }
                        finally
                        {
                            reading.Release();
                        }
                    }
                    var part = await UploadPartAsync(key, uploadId, partNumber, buffer, length, failed.Token);
                    lock (parts) parts.Add(part);
                    partNumber = 0;
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
                await failed.CancelAsync();
                throw;
            }
        }

        try
        {
            await Task.WhenAll(LaneAsync(first, 1, firstLength), LaneAsync(second, 0, 0));
        }
        catch when (!cancellationToken.IsCancellationRequested && failure is not null)
        {
            // The lane that failed first, not the other one's cancellation.
            ExceptionDispatchInfo.Throw(failure);
        }
        return (parts.OrderBy(p => p.PartNumber).ToList(), total);
    }

    /// <summary>
    /// Runs one call to S3; what it throws becomes a <see cref="RecordingUploadException"/>, except a cancellation through
    /// <paramref name="cancellationToken"/> (a cancellation from anywhere else is the SDK's timeout).
    /// </summary>
    async Task<T> StoreAsync<T>(string key, string step, CancellationToken cancellationToken, Func<CancellationToken, Task<T>> call)
    {
        try
        {
            return await call(cancellationToken);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            var what = e is AmazonServiceException service
                ? $"{service.ErrorCode ?? "error"} (HTTP {(int)service.StatusCode}) {service.Message}".TrimEnd()
                : e is OperationCanceledException ? "the store did not answer in time" : RecordingUpload.Describe(e);
            throw new RecordingUploadException(RecordingUploadFailure.Store, key, $"{Name} failed while {step}: {what}", e);
        }
    }

    /// <summary>Aborts on the way out, whatever cancelled the upload; a failed abort is logged (a lifecycle rule is the backstop).</summary>
    async Task AbortAsync(string key, string uploadId, Exception cause)
    {
        using var timeout = new CancellationTokenSource(AbortTimeout);
        try
        {
            await s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = uploadId }, timeout.Token);
            logger.LogWarning("Upload of {Key} to {Store} aborted, no parts kept: {Reason}", key, Name,
                cause is RecordingUploadException upload ? upload.Reason : RecordingUpload.Describe(cause));
        }
        catch (Exception e)
        {
            logger.LogError("Upload of {Key} to {Store} failed and aborting its multipart upload failed too ({Reason}); its parts stay " +
                            "until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them", key, Name, RecordingUpload.Describe(e));
        }
    }

    void Log(string key, long bytes, int parts, long started)
    {
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        logger.LogInformation("Uploaded {Key} to {Store}: {Size} in {Parts} part(s), {Seconds:0.0} s", key, Name, RecordingUpload.Megabytes(bytes),
            parts, seconds);
    }

    public Uri PresignGet(string key, TimeSpan validFor) =>
        new(s3.GetPreSignedURL(new GetPreSignedUrlRequest
        {
            BucketName = bucket,
            Key = key,
            Verb = HttpVerb.GET,
            Protocol = protocol,
            Expires = clock.GetUtcNow().UtcDateTime + validFor,
        }));

    public async IAsyncEnumerable<StoredRecording> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        do
        {
            var page = await s3.ListObjectsV2Async(request, cancellationToken);
            foreach (var item in page.S3Objects ?? [])
                yield return new StoredRecording(item.Key, item.Size ?? 0);
            request.ContinuationToken = page.IsTruncated == true ? page.NextContinuationToken : null;
        } while (request.ContinuationToken is not null);
    }

    public async Task DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        await s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = key }, cancellationToken);

    public async Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = key }, cancellationToken);
            return response.ResponseStream;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public void Dispose() => s3.Dispose();
}
