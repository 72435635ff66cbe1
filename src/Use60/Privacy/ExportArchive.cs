using System.IO.Compression;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Recordings;

namespace Use60.Privacy;

/// <summary>One table of an export: its rows in a stable order, read a page at a time.</summary>
public sealed record ExportTable(string Name, Func<Use60Db, int, int, CancellationToken, Task<IReadOnlyList<object>>> PageAsync,
    Func<Use60Db, CancellationToken, Task<int>> CountAsync)
{
    /// <summary>A table from an EF query: ordered by <paramref name="key"/>, paged with OFFSET (the export's rows do not change under it in practice).</summary>
    public static ExportTable Of<T, TKey>(string name, Func<Use60Db, IQueryable<T>> query, System.Linq.Expressions.Expression<Func<T, TKey>> key)
        where T : class =>
        new(name, async (db, skip, take, cancellationToken) =>
                (await query(db).AsNoTracking().OrderBy(key).Skip(skip).Take(take).ToListAsync(cancellationToken)).Cast<object>().ToList(),
            (db, cancellationToken) => query(db).CountAsync(cancellationToken));
}

/// <summary>
/// Writes an export's ZIP (one JSON and one CSV file per table) into a pipe whose other end the recording store uploads from, so
/// the archive is never whole in memory: rows come a page at a time, the ZIP is written forward only, and the pipe holds back the
/// writer while the store is busy with a part.
/// </summary>
public static class ExportArchive
{
    public const int PageSize = 500;

    /// <summary>Column names never exported: ciphertext, blind indexes and key ids (the plaintext is exported in their place).</summary>
    static bool Hidden(string column) => column.EndsWith("_sealed", StringComparison.Ordinal) || column.EndsWith("_hash", StringComparison.Ordinal)
                                         || column is "pii_key_id";

    /// <summary>
    /// Streams the archive of <paramref name="tables"/> into <paramref name="store"/> under <paramref name="key"/>; <paramref name="progress"/>
    /// is told the rows done after each page of CSV (a table's rows count once, when both its files are written). Returns the stored size.
    /// </summary>
    public static async Task<long> UploadAsync(IRecordingStore store, string key, Func<Use60Db> openDb, IReadOnlyList<ExportTable> tables,
        Func<int, Task> progress, CancellationToken cancellationToken)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024));
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writing = Task.Run(async () =>
        {
            try
            {
                await using (var output = pipe.Writer.AsStream(leaveOpen: true))
                    await WriteAsync(output, openDb, tables, progress, failed.Token);
                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                // The reader then fails, and the store leaves nothing behind.
                await pipe.Writer.CompleteAsync(e);
                throw;
            }
        }, CancellationToken.None);
        try
        {
            await using var input = pipe.Reader.AsStream();
            var bytes = await store.UploadAsync(key, input, "application/zip", cancellationToken);
            await writing;
            return bytes;
        }
        catch
        {
            await failed.CancelAsync();
            try { await writing; } catch { /* the writer's failure is the cause when it failed first; it is rethrown below */ }
            if (writing.Exception?.InnerException is { } cause && cause is not OperationCanceledException) throw cause;
            throw;
        }
    }

    static async Task WriteAsync(Stream output, Func<Use60Db> openDb, IReadOnlyList<ExportTable> tables, Func<int, Task> progress,
        CancellationToken cancellationToken)
    {
        await using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true, Encoding.UTF8);
        await using var db = openDb();
        var done = 0;
        foreach (var table in tables)
        {
            // One entry open at a time (forward-only ZIP): the table is read twice, once per file.
            var jsonEntry = zip.CreateEntry(table.Name + ".json", CompressionLevel.Optimal);
            await using (var entry = await jsonEntry.OpenAsync(cancellationToken))
            await using (var json = new Utf8JsonWriter(entry, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartArray();
                await foreach (var row in RowsAsync(db, table, cancellationToken))
                {
                    row.WriteTo(json);
                    if (json.BytesPending > 64 * 1024) await json.FlushAsync(cancellationToken);
                }
                json.WriteEndArray();
            }
            var csvEntry = zip.CreateEntry(table.Name + ".csv", CompressionLevel.Optimal);
            await using (var entry = await csvEntry.OpenAsync(cancellationToken))
            await using (var csv = new StreamWriter(entry, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 16 * 1024))
            {
                List<string>? columns = null;
                var inPage = 0;
                await foreach (var row in RowsAsync(db, table, cancellationToken))
                {
                    if (columns is null)
                    {
                        columns = [.. row.Select(p => p.Key)];
                        await csv.WriteLineAsync(string.Join(',', columns.Select(Csv)));
                    }
                    await csv.WriteLineAsync(string.Join(',', columns.Select(c => Csv(Cell(row[c])))));
                    done++;
                    if (++inPage == PageSize)
                    {
                        inPage = 0;
                        await progress(done);
                    }
                }
            }
            await progress(done);
        }
    }

    static async IAsyncEnumerable<JsonObject> RowsAsync(Use60Db db, ExportTable table,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var skip = 0; ; skip += PageSize)
        {
            var page = await table.PageAsync(db, skip, PageSize, cancellationToken);
            foreach (var entity in page)
            {
                var row = JsonSerializer.SerializeToNode(entity, entity.GetType(), DbJson.Options)!.AsObject();
                // Links to other entities are not loaded (null here); owned JSON (attendees, transcript segments) is the row's own data and stays.
                foreach (var navigation in (db.Model.FindEntityType(entity.GetType())?.GetNavigations() ?? []).Where(n => !n.TargetEntityType.IsOwned()))
                    row.Remove(JsonNamingPolicy.SnakeCaseLower.ConvertName(navigation.Name));
                foreach (var hidden in row.Select(p => p.Key).Where(Hidden).ToList()) row.Remove(hidden);
                yield return row;
            }
            if (page.Count < PageSize) yield break;
        }
    }

    static string Cell(JsonNode? value) => value switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var text) => text,
        _ => value.ToJsonString(),
    };

    /// <summary>An RFC 4180 field; one that a spreadsheet would run as a formula gets a leading apostrophe.</summary>
    static string Csv(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' && !double.TryParse(value, out _)) value = "'" + value;
        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
    }
}
