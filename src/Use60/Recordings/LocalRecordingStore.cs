using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Options;
using Use60.Hosting;
using Use60.Privacy;

namespace Use60.Recordings;

/// <summary>
/// The embedded default when no bucket is configured: recordings as files under a folder (<c>S3__LocalRoot</c>, default
/// <c>.data/recordings</c> in the app's content root), the key as the relative path. A file is written under
/// <c>.incoming/</c> and moved into place when complete, so a key never names half a file. Its "presigned" links are links
/// to this app, <c>/recordings/files/{key}?expires=…&amp;sig=…</c>, signed with an HMAC-SHA256 key derived from
/// USE60_MASTER_KEY (<see cref="SecretBox.KeyFor"/>) and served by <see cref="RecordingStoreFeature.MapRecordingFiles"/>.
/// </summary>
public sealed class LocalRecordingStore : IRecordingStore
{
    public const string FilesPath = "recordings/files/";
    const string LinkPurpose = "recordings/local-links";
    const string Incoming = ".incoming";

    readonly string root;
    readonly Uri publicUri;
    readonly SecretBox secrets;
    readonly TimeProvider clock;
    readonly ILogger<LocalRecordingStore> logger;

    public LocalRecordingStore(IOptions<S3Options> options, IOptions<Use60Options> host, IHostEnvironment environment, SecretBox secrets,
        TimeProvider clock, ILogger<LocalRecordingStore> logger)
        : this(Path.GetFullPath(options.Value.LocalRoot, environment.ContentRootPath), host.Value.PublicUri, secrets, clock, logger)
    {
    }

    public LocalRecordingStore(string root, Uri publicUri, SecretBox secrets, TimeProvider clock, ILogger<LocalRecordingStore> logger)
    {
        this.root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        this.publicUri = publicUri;
        this.secrets = secrets;
        this.clock = clock;
        this.logger = logger;
    }

    public string Name => $"local:{root}";

    public async Task<long> UploadAsync(string key, Stream source, string contentType, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        var incoming = Path.Combine(root, Incoming, $"{Guid.NewGuid():N}.part");
        var buffer = RecordingUpload.RentPart();
        long total = 0;
        try
        {
            await using (var file = await WriteStepAsync(key, "creating its file", () =>
                         {
                             Directory.CreateDirectory(Path.GetDirectoryName(incoming)!);
                             return Task.FromResult(new FileStream(incoming, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous));
                         }))
            {
                int length;
                do
                {
                    length = await RecordingUpload.ReadPartAsync(source, buffer, key, total, cancellationToken);
                    await WriteStepAsync(key, "writing", async () =>
                    {
                        await file.WriteAsync(buffer.AsMemory(0, length), cancellationToken);
                        return 0;
                    });
                    total += length;
                } while (length == RecordingUpload.PartSize);
            }
            await WriteStepAsync(key, "moving it into place", () =>
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.Move(incoming, path, overwrite: true);
                return Task.FromResult(0);
            });
            logger.LogInformation("Stored {Key} in {Store}: {Size}", key, Name, RecordingUpload.Megabytes(total));
            return total;
        }
        catch
        {
            try { File.Delete(incoming); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { logger.LogWarning("Could not remove {File}: {Reason}", incoming, e.Message); }
            throw;
        }
        finally
        {
            RecordingUpload.Return(buffer);
        }
    }

    async Task<T> WriteStepAsync<T>(string key, string step, Func<Task<T>> write)
    {
        try
        {
            return await write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RecordingUploadException(RecordingUploadFailure.Store, key, $"the local recording folder failed while {step}: {RecordingUpload.Describe(e)}", e);
        }
    }

    public Uri PresignGet(string key, TimeSpan validFor)
    {
        if (!RecordingKeys.IsSafe(key)) throw new ArgumentException("Not a recording key.", nameof(key));
        var expires = clock.GetUtcNow().Add(validFor).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return new Uri(publicUri, $"{FilesPath}{key}?expires={expires}&sig={Base64Url.EncodeToString(Sign(key, expires))}");
    }

    /// <summary>Whether a link's signature is this app's for <paramref name="key"/> and expiry, compared in constant time, and not expired.</summary>
    public bool IsValidLink(string key, string? expires, string? signature)
    {
        if (!RecordingKeys.IsSafe(key) || !long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var expiresAt)
            || string.IsNullOrEmpty(signature) || signature.Length > 64 || !secrets.IsConfigured)
            return false;
        // Compared as text: decoding a malformed signature can throw rather than fail, and a bad link is a 403, never a 500.
        var signed = CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Base64Url.EncodeToString(Sign(key, expires!))),
            Encoding.ASCII.GetBytes(signature));
        return signed && clock.GetUtcNow().ToUnixTimeSeconds() < expiresAt;
    }

    byte[] Sign(string key, string expires)
    {
        if (!secrets.IsConfigured)
            throw new InvalidOperationException($"USE60_MASTER_KEY is not set, so links to recordings in the local folder cannot be signed; {MasterKeyOptions.HowToMakeOne}.");
        return HMACSHA256.HashData(secrets.KeyFor(LinkPurpose), Encoding.UTF8.GetBytes($"{key}\n{expires}"));
    }

    public async IAsyncEnumerable<StoredRecording> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Start at the deepest folder the prefix names in full; the rest of it filters file names.
        var folderKey = prefix[..(prefix.LastIndexOf('/') + 1)];
        if (folderKey.Length > 0 && !RecordingKeys.IsSafe(folderKey.TrimEnd('/'))) throw new ArgumentException("Not a recording key prefix.", nameof(prefix));
        var folder = Path.Combine(root, folderKey);
        if (!Directory.Exists(folder)) yield break;
        var found = Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true })
            .Select(path => (Key: Path.GetRelativePath(root, path).Replace(Path.DirectorySeparatorChar, '/'), Path: path))
            .Where(file => file.Key.StartsWith(prefix, StringComparison.Ordinal) && !file.Key.StartsWith(Incoming + "/", StringComparison.Ordinal))
            .OrderBy(file => file.Key, StringComparer.Ordinal);
        foreach (var (key, path) in found)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var info = new FileInfo(path);
            if (info.Exists) yield return new StoredRecording(key, info.Length);
        }
        await Task.CompletedTask;
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        if (!File.Exists(path)) return Task.CompletedTask;
        File.Delete(path);
        // Erasure leaves no empty folders named after the org, user and recording behind.
        for (var folder = Path.GetDirectoryName(path); folder is not null && folder.Length > root.Length; folder = Path.GetDirectoryName(folder))
        {
            if (!Directory.Exists(folder) || Directory.EnumerateFileSystemEntries(folder).Any()) break;
            Directory.Delete(folder);
        }
        return Task.CompletedTask;
    }

    public Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default) =>
        Task.FromResult(FileOf(key) is { } path
            ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.Asynchronous | FileOptions.SequentialScan)
            : (Stream?)null);

    /// <summary>The file of an existing object, or null.</summary>
    public string? FileOf(string key) => RecordingKeys.IsSafe(key) && PathOf(key) is var path && File.Exists(path) ? path : null;

    string PathOf(string key)
    {
        if (!RecordingKeys.IsSafe(key) || key.StartsWith(Incoming, StringComparison.Ordinal))
            throw new ArgumentException("Not a recording key.", nameof(key));
        var path = Path.GetFullPath(Path.Combine(root, key));
        return path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? path : throw new ArgumentException("Not a recording key.", nameof(key));
    }
}

public static class RecordingStoreFeature
{
    static readonly FileExtensionContentTypeProvider ContentTypes = new();

    /// <summary>The recording store (S3 with a bucket, else the local folder) and its storage meter for the daily metrics.</summary>
    public static IServiceCollection AddRecordingStore(this IServiceCollection services) =>
        services
            .AddSingleton<IRecordingStore>(sp => string.IsNullOrWhiteSpace(sp.GetRequiredService<IOptions<S3Options>>().Value.Bucket)
                ? ActivatorUtilities.CreateInstance<LocalRecordingStore>(sp)
                : ActivatorUtilities.CreateInstance<S3RecordingStore>(sp))
            .AddSingleton<IStorageMeter, RecordingStorageMeter>();

    /// <summary>
    /// <c>GET /recordings/files/{key}?expires=…&amp;sig=…</c>: a local recording for whoever holds a link from
    /// <see cref="LocalRecordingStore.PresignGet"/>, with range requests (seeking in a player). A wrong, altered or expired link
    /// gets a bare 403 and a missing file a bare 404, neither saying where files are; with a bucket configured it is always 404.
    /// </summary>
    public static WebApplication MapRecordingFiles(this WebApplication app)
    {
        app.MapGet("/" + LocalRecordingStore.FilesPath + "{**key}", (string key, string? expires, string? sig, HttpContext context, IRecordingStore store) =>
        {
            if (store is not LocalRecordingStore local) return Results.NotFound();
            if (!local.IsValidLink(key, expires, sig)) return Results.StatusCode(StatusCodes.Status403Forbidden);
            if (local.FileOf(key) is not { } path) return Results.NotFound();
            context.Response.Headers.CacheControl = "private, no-store";
            context.Response.Headers.XContentTypeOptions = "nosniff";
            return Results.File(path, ContentTypes.TryGetContentType(path, out var type) ? type : "application/octet-stream", enableRangeProcessing: true);
        }).ExcludeFromDescription();
        return app;
    }
}
