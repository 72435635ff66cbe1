using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Use60.Data;

namespace Use60.Copilot;

/// <summary>Whether the LLM may answer this request; when not, the honest reason and when it changes.</summary>
public sealed record LimitCheck(bool LlmAllowed, string? Note);

/// <summary>
/// The usage limits: requests per rep per minute, and the org's LLM token budget per calendar month (UTC). Past
/// either, the offline planner still answers and the rep is told which limit and when it resets.
/// </summary>
public sealed class CopilotLimits(Use60Db db, SystemDb system, CopilotSession session, IOptions<CopilotOptions> options, TimeProvider clock)
{
    public async Task<LimitCheck> CheckAsync(CancellationToken cancellationToken)
    {
        var limits = options.Value;
        var now = clock.GetUtcNow();
        var minuteAgo = now.AddMinutes(-1);
        // The request being answered is already stored, so it counts.
        var recent = await db.ConversationMessages.Where(m => m.UserId == session.User.Id && m.Role == MessageRole.User && m.CreatedAt > minuteAgo)
            .OrderBy(m => m.CreatedAt).Select(m => m.CreatedAt).ToListAsync(cancellationToken);
        if (recent.Count > limits.RequestsPerMinute)
        {
            var resets = recent[^limits.RequestsPerMinute] + TimeSpan.FromMinutes(1);
            var seconds = Math.Max(1, (int)Math.Ceiling((resets - now).TotalSeconds));
            return new LimitCheck(false, $"You've sent {recent.Count} requests in the last minute (the limit is {limits.RequestsPerMinute}), so I answered " +
                                         $"with my quick built-in planner. Full answers are back in {seconds} seconds.");
        }
        if (limits.MonthlyTokenBudget == 0) return new LimitCheck(false, null);
        var month = new DateOnly(now.Year, now.Month, 1);
        long used;
        // The budget is the org's: a narrow read of the org's counts (not anyone's words) across its reps.
        await using (var read = system.Open("read the org's copilot token use this month"))
            used = await read.CopilotUsage.Where(u => u.OrgId == session.OrgId && u.Month == month).SumAsync(u => u.InputTokens + u.OutputTokens, cancellationToken);
        if (used >= limits.MonthlyTokenBudget)
            return new LimitCheck(false, $"Your team has used this month's AI budget ({limits.MonthlyTokenBudget:N0} tokens), so I answered with my " +
                                         $"built-in planner. It resets on {month.AddMonths(1):d MMMM} (UTC); an admin can see usage per rep.");
        return new LimitCheck(true, null);
    }

    /// <summary>Adds one LLM call's tokens and cost to the rep's monthly usage.</summary>
    public Task RecordAsync(int inputTokens, int outputTokens, decimal cost, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var month = new DateOnly(now.Year, now.Month, 1);
        return db.Database.ExecuteSqlAsync($"""
            INSERT INTO copilot_usage (org_id, user_id, month, llm_calls, input_tokens, output_tokens, estimated_cost_usd)
            VALUES ({session.OrgId}, {session.User.Id}, {month}, 1, {(long)inputTokens}, {(long)outputTokens}, {cost})
            ON CONFLICT (org_id, user_id, month) DO UPDATE SET llm_calls = copilot_usage.llm_calls + 1,
                input_tokens = copilot_usage.input_tokens + excluded.input_tokens, output_tokens = copilot_usage.output_tokens + excluded.output_tokens,
                estimated_cost_usd = copilot_usage.estimated_cost_usd + excluded.estimated_cost_usd
            """, cancellationToken);
    }
}
