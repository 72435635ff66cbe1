using System.Buffers;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Use60.Recordings;

/// <summary>
/// Where recordings are kept for good: <see cref="S3RecordingStore"/> when AWS_S3_BUCKET is set, else
/// <see cref="LocalRecordingStore"/>, a folder under .data/. Keys follow <see cref="RecordingKeys"/>.
/// </summary>
public interface IRecordingStore
{
    /// <summary>What the store is, for logs and the storage metrics: "s3://bucket" or "local:/path". Never a credential.</summary>
    string Name { get; }

    /// <summary>
    /// Streams <paramref name="source"/> (need not be seekable: an HTTP response stream) into <paramref name="key"/> in parts of
    /// <see cref="RecordingUpload.PartSize"/>, holding at most two parts in memory whatever the size; returns the stored size in
    /// bytes. Nothing is left behind on failure: no object or file under the key, no multipart upload's parts.
    /// </summary>
    /// <exception cref="RecordingUploadException">The source failed mid-file, or the store refused the bytes.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (after cleaning up as above).</exception>
    Task<long> UploadAsync(string key, Stream source, string contentType, CancellationToken cancellationToken);

    /// <summary>A link anyone holding it can GET the object with, until <paramref name="validFor"/> from now (callers ask for 15 minutes).</summary>
    Uri PresignGet(string key, TimeSpan validFor);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, with its size, in key order.</summary>
    IAsyncEnumerable<StoredRecording> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Removes the object; nothing happens if there is none (GDPR erasure may ask twice).</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>The object's bytes, or null if there is no such object. The caller disposes the stream.</summary>
    Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default);
}

public sealed record StoredRecording(string Key, long Size);

/// <summary>
/// The key layout: <c>meeting-recordings/{org_id}/{user_id}/{recording_id}/video.mp4|audio.mp3|thumbnail.jpg</c>, so an
/// org's recordings are one prefix (erasure, the storage meter) and a recording's files sit together.
/// </summary>
public static partial class RecordingKeys
{
    public const string Root = "meeting-recordings/";
    public const string Video = "video.mp4", Audio = "audio.mp3", Thumbnail = "thumbnail.jpg";

    public static string For(Guid orgId, Guid userId, Guid recordingId, string file) =>
        file is Video or Audio or Thumbnail
            ? $"{Root}{Id(orgId)}/{Id(userId)}/{Id(recordingId)}/{file}"
            : throw new ArgumentException($"A recording's files are {Video}, {Audio} and {Thumbnail}, not {file}.", nameof(file));

    public static string OrgPrefix(Guid orgId) => $"{Root}{Id(orgId)}/";

    public static string UserPrefix(Guid orgId, Guid userId) => $"{OrgPrefix(orgId)}{Id(userId)}/";

    /// <summary>The org a key belongs to: its second path segment.</summary>
    public static bool TryGetOrg(string key, out Guid orgId)
    {
        orgId = Guid.Empty;
        return key.StartsWith(Root, StringComparison.Ordinal)
               && key.AsSpan(Root.Length) is var rest && rest.IndexOf('/') is > 0 and var end
               && Guid.TryParseExact(rest[..end], "D", out orgId);
    }

    /// <summary>
    /// A key this app would make: relative, '/'-separated segments of letters, digits, '.', '_' and '-', none of them empty,
    /// "." or "..". The local store maps keys onto paths, so anything else is refused before it touches the disk.
    /// </summary>
    public static bool IsSafe(string? key) =>
        key is { Length: > 0 and <= 512 } && SafeKey().IsMatch(key) && key.Split('/').All(segment => segment is not ("." or ".."));

    static string Id(Guid id) => id.ToString("D", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")]
    private static partial Regex SafeKey();
}

/// <summary>Why an upload failed, in words fit for the admin site and the logs (never a credential or a signed URL).</summary>
public sealed class RecordingUploadException(RecordingUploadFailure failure, string key, string reason, Exception? inner = null)
    : Exception($"Upload of {key} failed: {reason}", inner)
{
    public RecordingUploadFailure Failure { get; } = failure;
    public string Key { get; } = key;
    public string Reason { get; } = reason;
}

public enum RecordingUploadFailure
{
    /// <summary>Reading the media failed (the provider dropped the connection, the file ended early): worth a retry.</summary>
    Source,
    /// <summary>The store refused or failed to keep the bytes (S3 error, disk full, timeout).</summary>
    Store,
}

/// <summary>What both stores share when they take in a recording: the part size, pooled part buffers, and reading a part.</summary>
public static class RecordingUpload
{
    /// <summary>5 MiB: S3's smallest part but the last, so the most parts in memory is two of these.</summary>
    public const int PartSize = 5 * 1024 * 1024;

    /// <summary>S3 allows 10,000 parts: 48.8 GiB in 5 MiB parts, far past any meeting.</summary>
    public const int MaxParts = 10_000;

    /// <summary>Part buffers for every upload of the process: a finished upload's buffers serve the next one.</summary>
    static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create(PartSize, 16);

    public static byte[] RentPart() => Buffers.Rent(PartSize);

    public static void Return(byte[] buffer) => Buffers.Return(buffer);

    /// <summary>
    /// Fills <paramref name="buffer"/> up to <see cref="PartSize"/> from <paramref name="source"/>, or to its end; returns the
    /// count (less than a part only at the end). A failure of the source becomes a <see cref="RecordingUploadException"/>
    /// that says how far it got; cancellation stays an <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<int> ReadPartAsync(Stream source, byte[] buffer, string key, long readSoFar, CancellationToken cancellationToken)
    {
        try
        {
            return await source.ReadAtLeastAsync(buffer.AsMemory(0, PartSize), PartSize, throwOnEndOfStream: false, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new RecordingUploadException(RecordingUploadFailure.Source, key,
                $"reading the recording failed after {Megabytes(readSoFar)}: {Describe(e)}", e);
        }
    }

    public static string Megabytes(long bytes) => (bytes / 1024d / 1024d).ToString("0.0 'MiB'", CultureInfo.InvariantCulture);

    /// <summary>An exception's type and first line: enough to act on, never a stack trace.</summary>
    public static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}";
}

/// <summary>
/// The daily storage metrics' view of the recording store: the bytes under <see cref="RecordingKeys.Root"/> per org (the key's
/// second segment), from a listing of the store itself rather than the database, so it counts what is really paid for.
/// </summary>
public sealed class RecordingStorageMeter(IRecordingStore store) : IStorageMeter
{
    public string Store => store.Name;

    public async Task<IReadOnlyDictionary<Guid, long>> BytesByOrgAsync(CancellationToken cancellationToken)
    {
        var bytes = new Dictionary<Guid, long>();
        await foreach (var item in store.ListAsync(RecordingKeys.Root, cancellationToken))
            if (RecordingKeys.TryGetOrg(item.Key, out var org))
                bytes[org] = bytes.GetValueOrDefault(org) + item.Size;
        return bytes;
    }
}
