using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Metadata;

namespace Use60.Privacy;

/// <summary>
/// Card numbers never reach the database through EF: every text property of every row being added or changed is redacted on
/// its way out (jsonb columns as JSON, so their numbers and shape stay intact). One place rather than a call at each write —
/// copilot turns, tool results, previews and email drafts, activities, tasks, meeting notes, transcripts, the Slack outbox —
/// so a new free-text column is covered the day it is mapped. Identifiers are left alone: keys, foreign keys and properties
/// named …Id hold other systems' ids, which a person never types a card into and which must stay exactly as they came.
/// </summary>
/// <remarks>Raw SQL writes of text that people typed (the Slack and webhook inboxes) redact their payload themselves.</remarks>
public sealed class CardNumberRedactionInterceptor : SaveChangesInterceptor
{
    public static readonly CardNumberRedactionInterceptor Instance = new();

    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        if (eventData.Context is { } context) Redact(context);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context) Redact(context);
        return ValueTask.FromResult(result);
    }

    static void Redact(DbContext context)
    {
        foreach (var entry in context.ChangeTracker.Entries())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified)) continue;
            var inJson = entry.Metadata.IsMappedToJson();
            foreach (var property in entry.Properties)
            {
                if (property.Metadata.ClrType != typeof(string) || IsIdentifier(property.Metadata)) continue;
                if (entry.State == EntityState.Modified && !property.IsModified) continue;
                if (property.CurrentValue is not string text) continue;
                var redacted = !inJson && IsJsonColumn(property.Metadata) ? CardNumbers.RedactJson(text) : CardNumbers.Redact(text);
                if (!ReferenceEquals(redacted, text)) property.CurrentValue = redacted;
            }
        }
    }

    static bool IsIdentifier(IProperty property) =>
        property.IsKey() || property.IsForeignKey() || property.Name.EndsWith("Id", StringComparison.Ordinal);

    static bool IsJsonColumn(IProperty property) => property.GetColumnType() is "jsonb" or "json";
}

/// <summary>
/// Card numbers never reach the LLM endpoint: every request body is redacted (as JSON: the rep's words, the conversation
/// history, tool results and tool-call arguments alike) in the HTTP pipeline of the OpenAI client, under the tool loop, so no
/// path to the model can skip it.
/// </summary>
public sealed class CardNumberRedactingPolicy : PipelinePolicy
{
    public static readonly CardNumberRedactingPolicy Instance = new();

    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Redact(message);
        ProcessNext(message, pipeline, currentIndex);
    }

    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Redact(message);
        await ProcessNextAsync(message, pipeline, currentIndex);
    }

    static void Redact(PipelineMessage message)
    {
        if (message.Request.Content is not { } content) return;
        using var buffer = new MemoryStream();
        content.WriteTo(buffer, message.CancellationToken);
        var body = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        var redacted = CardNumbers.RedactJson(body);
        if (!ReferenceEquals(redacted, body)) message.Request.Content = BinaryContent.Create(BinaryData.FromString(redacted));
    }
}
