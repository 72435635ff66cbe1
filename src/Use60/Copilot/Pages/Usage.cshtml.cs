using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Copilot.Pages;

/// <summary>
/// Copilot usage (/admin/copilot-usage): per member of the org and calendar month (UTC), how often they used the copilot
/// and what it cost, against the org's monthly token budget. Counts only, read through the tenant-scoped DbContext: row-level
/// security lets owners and admins read the org's usage rows, while conversations stay private to each rep (never read here).
/// </summary>
public sealed class UsageModel(Use60Db db, TimeProvider clock, IOptions<CopilotOptions> copilot, IOptions<LlmOptions> llm) : PageModel
{
    public const string PagePath = "/admin/copilot-usage";
    const string MonthFormat = "yyyy-MM";
    static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The month shown (its 1st); anything but a month up to the current one means the current one.</summary>
    public DateOnly Month { get; private set; }

    /// <summary>The current calendar month in UTC, by the injected clock.</summary>
    public DateOnly CurrentMonth { get; private set; }

    public DateOnly? PreviousMonth => Month is { Year: 1, Month: 1 } ? null : Month.AddMonths(-1);

    /// <summary>Never into the future.</summary>
    public DateOnly? NextMonth => Month < CurrentMonth ? Month.AddMonths(1) : null;

    public bool IsCurrentMonth => Month == CurrentMonth;

    /// <summary>Every member of the org, with zeros for those who did not use the copilot that month; most tokens first.</summary>
    public IReadOnlyList<RepUsage> Reps { get; private set; } = [];

    public RepUsage Totals { get; private set; } = RepUsage.Zero(Guid.Empty, "Total", UserRole.Member);

    /// <summary>LLM tokens (input + output) the org may use per month; 0 turns the LLM off.</summary>
    public long Budget => copilot.Value.MonthlyTokenBudget;

    /// <summary>An LLM endpoint is configured (whether, never its key).</summary>
    public bool LlmConfigured => llm.Value.IsConfigured;

    public long TokensUsed => Totals.Tokens;

    public bool OverBudget => Budget > 0 && TokensUsed >= Budget;

    public sealed record RepUsage(Guid UserId, string Name, UserRole Role, int Requests, int LlmCalls, long InputTokens, long OutputTokens,
        decimal EstimatedCostUsd)
    {
        public long Tokens => InputTokens + OutputTokens;
        public string RoleName => SnakeCase.ValueOf(Role);

        public static RepUsage Zero(Guid userId, string name, UserRole role) => new(userId, name, role, 0, 0, 0, 0, 0m);
    }

    public async Task OnGetAsync([FromQuery(Name = "month")] string? requestedMonth, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        CurrentMonth = new DateOnly(now.Year, now.Month, 1);
        Month = ParseMonth(requestedMonth, CurrentMonth);

        // Members and their counts for the month: copilot_usage only, never a conversation.
        var rows = await (from user in db.Users.AsNoTracking()
                          join usage in db.CopilotUsage.AsNoTracking().Where(u => u.Month == Month)
                              on new { user.OrgId, UserId = user.Id } equals new { usage.OrgId, usage.UserId } into months
                          from usage in months.DefaultIfEmpty()
                          select new { user.Id, user.Name, user.Role, Usage = usage })
            .ToListAsync(cancellationToken);
        Reps = [.. rows
            .Select(r => r.Usage is null
                ? RepUsage.Zero(r.Id, r.Name, r.Role)
                : new RepUsage(r.Id, r.Name, r.Role, r.Usage.Requests, r.Usage.LlmCalls, r.Usage.InputTokens, r.Usage.OutputTokens,
                    r.Usage.EstimatedCostUsd))
            .OrderByDescending(r => r.Tokens)
            .ThenBy(r => r.Name, StringComparer.InvariantCultureIgnoreCase)
            .ThenBy(r => r.UserId)];
        Totals = new RepUsage(Guid.Empty, "Total", UserRole.Member, Reps.Sum(r => r.Requests), Reps.Sum(r => r.LlmCalls),
            Reps.Sum(r => r.InputTokens), Reps.Sum(r => r.OutputTokens), Reps.Sum(r => r.EstimatedCostUsd));
    }

    /// <summary>A month as typed in ?month= (2026-11), up to <paramref name="current"/>; anything else is the current month (never an error).</summary>
    public static DateOnly ParseMonth(string? value, DateOnly current) =>
        DateOnly.TryParseExact(value, MonthFormat, Invariant, DateTimeStyles.None, out var month) && month <= current ? month : current;

    public string MonthLink(DateOnly month) => month == CurrentMonth ? PagePath : $"{PagePath}?month={MonthValue(month)}";

    /// <summary>"2026-11": the value of ?month= and of the month input.</summary>
    public static string MonthValue(DateOnly month) => month.ToString(MonthFormat, Invariant);

    /// <summary>"November 2026".</summary>
    public static string MonthName(DateOnly month) => month.ToString("MMMM yyyy", Invariant);

    public static string Count(long value) => value.ToString("N0", Invariant);

    /// <summary>US dollars with 2 to 4 decimals: "$0.00", "$1.50", "$0.0123".</summary>
    public static string Usd(decimal value) => "$" + value.ToString("#,##0.00##", Invariant);

    /// <summary>How much of the budget is used, in percent (one decimal); past 100 when over it.</summary>
    public string BudgetPercent => Budget <= 0 ? "" : (100m * TokensUsed / Budget).ToString("0.0", Invariant) + "%";

    /// <summary>Numbers for the &lt;meter&gt;: the budget, and the tokens used capped at it (the text tells how far over).</summary>
    public string MeterMax => Budget.ToString(Invariant);

    public string MeterValue => Math.Min(TokensUsed, Budget).ToString(Invariant);
    public string MeterLow => (Budget - Budget / 4).ToString(Invariant);
    public string MeterHigh => (Budget - Budget / 10).ToString(Invariant);

    /// <summary>When the budget starts again: the 1st of the month after the one shown.</summary>
    public string ResetsOn => Month.AddMonths(1).ToString("d MMMM", Invariant);
}
