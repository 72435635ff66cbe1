using System.Data;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Use60.Data;

/// <summary>
/// Statements sent to PostgreSQL together: one round trip for all of them, in the scope's tenant. A job's work for one rep reads
/// what it needs in one batch and writes what it decided in another, instead of a round trip per question. Each statement
/// returns one JSON value (rows gathered with json_agg), read as the type its caller asked for. The statements run as one
/// implicit transaction: all of them take effect, or none.
/// </summary>
/// <remarks>
/// SQL is written as an interpolated string: each value becomes a parameter, and an interpolated <see cref="FormattableString"/>
/// is spliced in as SQL with its own parameters (a filter, a subquery).
/// </remarks>
public sealed class DbBatch(Use60Db db)
{
    readonly List<(NpgsqlBatchCommand Command, Action<string?> Read)> statements = [];
    readonly List<Action> afterRun = [];

    /// <summary>A statement whose first column is one JSON value (or no row: the type's default).</summary>
    public DbResult<T> Add<T>(FormattableString sql)
    {
        string? json = null;
        var ran = false;
        statements.Add((Command(sql), value => (json, ran) = (value, true)));
        return new DbResult<T>(() => ran
            ? json is null ? default! : JsonSerializer.Deserialize<T>(json, DbJson.Options)!
            : throw new InvalidOperationException("The batch has not run yet."));
    }

    /// <summary>An INSERT, UPDATE or DELETE; the result is how many rows it wrote.</summary>
    public DbResult<int> Execute(FormattableString dml) => Add<int>($"WITH written AS ({dml} RETURNING 1) SELECT to_json(count(*)) FROM written");

    /// <summary>Runs <paramref name="action"/> once the batch has run (a dispatcher to wake for the messages it queued).</summary>
    public void AfterRun(Action action) => afterRun.Add(action);

    /// <summary>Sends the statements (once: a batch is not reused).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (statements.Count == 0) return;
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await using var batch = new NpgsqlBatch(connection) { Transaction = db.Database.CurrentTransaction?.GetDbTransaction() as NpgsqlTransaction };
        // A connection the batch opens gets the tenant in the same round trip, ahead of the statements, and stays open for the
        // rest of the scope (EF uses an open connection as it finds it): the tenant is set once per scope, not once per query.
        var opened = connection.State != ConnectionState.Open;
        if (opened)
        {
            // As when EF opens a connection: the org's keys are at hand to open what the statements read (from memory, mostly).
            await Privacy.PiiSealing.LoadTenantKeysAsync(db, cancellationToken);
            await connection.OpenAsync(cancellationToken);
            batch.BatchCommands.Add(TenantSession.BatchCommand(db.Tenant));
        }
        foreach (var (command, _) in statements) batch.BatchCommands.Add(command);
        try
        {
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            if (opened) await reader.NextResultAsync(cancellationToken);
            foreach (var (_, read) in statements)
            {
                read(await reader.ReadAsync(cancellationToken) && !reader.IsDBNull(0) ? reader.GetString(0) : null);
                await reader.NextResultAsync(cancellationToken);
            }
        }
        catch when (opened)
        {
            // The tenant's settings went with the failed transaction: the connection must not stay open without them.
            await connection.CloseAsync();
            throw;
        }
        foreach (var action in afterRun) action();
    }

    static NpgsqlBatchCommand Command(FormattableString sql)
    {
        var command = new NpgsqlBatchCommand();
        command.CommandText = Render(sql, command.Parameters);
        return command;
    }

    static string Render(FormattableString sql, NpgsqlParameterCollection parameters) =>
        string.Format(CultureInfo.InvariantCulture, sql.Format, [.. sql.GetArguments().Select(argument => argument switch
        {
            FormattableString fragment => Render(fragment, parameters),
            NpgsqlParameter parameter => Placeholder(parameters, parameter),
            _ => Placeholder(parameters, new NpgsqlParameter { Value = argument ?? DBNull.Value }),
        })]);

    static string Placeholder(NpgsqlParameterCollection parameters, NpgsqlParameter parameter)
    {
        parameters.Add(parameter);
        return "$" + parameters.Count.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary>A value a <see cref="DbBatch"/> reads: there once the batch has run.</summary>
public sealed class DbResult<T>
{
    readonly Func<T> read;
    bool done;
    T? value;

    internal DbResult(Func<T> read) => this.read = read;

    public T Value
    {
        get
        {
            if (!done) (value, done) = (read(), true);
            return value!;
        }
    }

    /// <summary>What <paramref name="map"/> makes of the value, once there.</summary>
    public DbResult<TOut> Select<TOut>(Func<T, TOut> map) => new(() => map(Value));
}

public static class DbBatches
{
    /// <summary>One batch of the statements <paramref name="add"/> puts in it, run at once: one round trip.</summary>
    public static async Task<T> BatchAsync<T>(this Use60Db db, Func<DbBatch, DbResult<T>> add, CancellationToken cancellationToken)
    {
        var batch = new DbBatch(db);
        var result = add(batch);
        await batch.RunAsync(cancellationToken);
        return result.Value;
    }
}

/// <summary>Rows as PostgreSQL's to_json writes them: snake_case names, enums as the database stores them, timestamps in UTC as Npgsql reads them.</summary>
public static class DbJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new StoredEnums(), new UtcTimestamps() },
    };

    sealed class StoredEnums : JsonConverterFactory
    {
        public override bool CanConvert(Type type) => type.IsEnum;

        public override JsonConverter CreateConverter(Type type, JsonSerializerOptions options) =>
            (JsonConverter)Activator.CreateInstance(typeof(Stored<>).MakeGenericType(type))!;

        sealed class Stored<TEnum> : JsonConverter<TEnum> where TEnum : struct, Enum
        {
            public override TEnum Read(ref Utf8JsonReader reader, Type type, JsonSerializerOptions options) => SnakeCase.Parse<TEnum>(reader.GetString()!);

            public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) => writer.WriteStringValue(SnakeCase.ValueOf(value));
        }
    }

    // to_json writes timestamptz in the session's time zone; the app's timestamps are UTC wherever they come from.
    sealed class UtcTimestamps : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type type, JsonSerializerOptions options) => reader.GetDateTimeOffset().ToUniversalTime();

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }
}
