using System.Text.Json.Nodes;
using Use60.Orgs;

namespace Use60.Copilot;

/// <summary>
/// Who the copilot is working for in this scope, and what the current turn produced: the tools read the rep and
/// their local date from here, and leave the previews, structured responses and tool outputs the reply is built from.
/// </summary>
public sealed class CopilotSession(TimeProvider clock)
{
    AppUser? user;

    public AppUser User => user ?? throw new InvalidOperationException("The copilot session has not started.");
    public Guid OrgId => User.OrgId;
    public TimeZoneInfo Zone { get; private set; } = TimeZoneInfo.Utc;
    public Guid? ConversationId { get; set; }
    public DateTimeOffset Now => clock.GetUtcNow();
    public DateOnly Today => TimeZones.LocalDate(Now, Zone);

    /// <summary>The pending action the rep has just confirmed: the only way execute_action runs an external action for real.</summary>
    public PendingAction? Confirmed { get; private set; }

    public List<PendingAction> Previews { get; } = [];

    /// <summary>The proactive message whose button started this turn: its previews are linked to it, so their Confirm counts as engagement.</summary>
    public long? ProactiveDeliveryId { get; set; }
    public List<JsonObject> Structured { get; } = [];

    /// <summary>Every action the turn ran (a sequence's steps included): what, with which parameters, how long, and what came back.</summary>
    public List<ActionTrace> Trace { get; } = [];

    /// <summary>Every tool output of the turn, as JSON text: a reply may only state figures that appear in them.</summary>
    public List<string> ToolOutputs { get; } = [];

    public CopilotSession Start(AppUser rep)
    {
        user = rep;
        Zone = TimeZones.Find(rep.TimeZone);
        return this;
    }

    public void Confirm(PendingAction action) => Confirmed = action;

    public void ClearConfirmation() => Confirmed = null;

    public string FirstName => User.Name.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? User.Name;

    public DateTimeOffset StartOfLocalDay(DateOnly date) => TimeZones.StartOfDay(date, Zone);
}

public sealed record ActionTrace(string Action, string Parameters, int DurationMs, string? Output, string? Error);
