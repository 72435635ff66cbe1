using Use60.Hosting;

namespace Use60.Privacy;

/// <summary>rotate-master-key: org keys rewrapped from USE60_PREVIOUS_MASTER_KEY to USE60_MASTER_KEY.</summary>
sealed class RotateMasterKeyCommand(PiiMaintenance maintenance) : ICommand
{
    public string Name => "rotate-master-key";
    public string Usage => "rotate-master-key";
    public string Summary => "rewrap every org's keys from USE60_PREVIOUS_MASTER_KEY to USE60_MASTER_KEY (rows untouched; safe to re-run)";

    public async Task<int> RunAsync(CommandContext context) =>
        await maintenance.RotateMasterKeyAsync(context.Out, context.CancellationToken) ? Commands.Ok : Commands.Failed;
}

/// <summary>reencrypt --org ID: the org's rows under a fresh data key, in batches (resumable).</summary>
sealed class ReencryptCommand(PiiMaintenance maintenance) : ICommand
{
    public string Name => "reencrypt";
    public string Usage => "reencrypt --org ID [--batch-size N] [--no-wait]";
    public string Summary => "re-encrypt an org's contacts and secrets under a fresh data key, in batches (resumes if interrupted)";

    public async Task<int> RunAsync(CommandContext context)
    {
        var args = context.Args;
        var org = Option("--org");
        var batch = Option("--batch-size");
        if (!Guid.TryParse(org, out var orgId) || (batch is not null && (!int.TryParse(batch, out var size) || size < 1)))
        {
            context.Error.WriteLine($"Usage: {Usage}   (ID: the org's id; N: rows per transaction, default {PiiMaintenance.DefaultBatchSize})");
            return Commands.BadUsage;
        }
        try
        {
            await maintenance.ReencryptAsync(orgId, batch is null ? PiiMaintenance.DefaultBatchSize : int.Parse(batch), !args.Contains("--no-wait"),
                context.Out, context.CancellationToken);
            return Commands.Ok;
        }
        catch (ArgumentException e)
        {
            context.Error.WriteLine(e.Message);
            return Commands.Failed;
        }

        string? Option(string name) => args.ToList().IndexOf(name) is var i and >= 0 && i + 1 < args.Count ? args[i + 1] : null;
    }
}
