using Npgsql;

namespace Use60.Data;

/// <summary>Statements on the system path (the schema owner's pool, app.system on for one transaction only).</summary>
/// <remarks>For work below EF (key tables, bulk resealing) that the app role must never see.</remarks>
static class SystemSql
{
    public static async Task<T> RunAsync<T>(NpgsqlDataSource owner, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await owner.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var system = Command(connection, transaction,
                         "SELECT set_config('app.org_id', '', true), set_config('app.user_id', '', true), set_config('app.system', 'on', true)"))
            await system.ExecuteNonQueryAsync(cancellationToken);
        var result = await work(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    public static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, params object?[] values)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
        return command;
    }
}
