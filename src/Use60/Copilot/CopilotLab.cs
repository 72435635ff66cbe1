using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.SemanticKernel;
using Use60.Data;
using Use60.Slack;

namespace Use60.Copilot;

/// <summary>
/// Copilot Lab: runs a skill or sequence as one of the org's reps, in simulation, and shows what happened — each action with its
/// parameters, time and output, and the Slack message the rep would get. The run happens inside a transaction that is rolled
/// back: no preview, telemetry or anything else it wrote survives, and external actions only ever preview anyway.
/// </summary>
public sealed class CopilotLab(IServiceScopeFactory scopes, TimeProvider clock)
{
    public sealed record Run(string SkillKey, string RunAs, int DurationMs, IReadOnlyList<ActionTrace> Trace, SlackMessage Message, string? Error)
    {
        /// <summary>Everything the run produced, as text: what a test case's key facts are looked for in.</summary>
        public string Evidence => string.Join('\n', Trace.Select(t => t.Output ?? t.Error ?? "")) + '\n' + Message.Text + '\n' + Message.ToJson().ToJsonString();
    }

    public sealed record Case(Guid Id, string Name, Guid RunAs, string SkillKey, string Inputs, string[] ExpectedFacts, DateTimeOffset? LastRunAt,
        bool? LastPassed, string[]? LastMissing);

    public sealed record Outcome(Case Case, bool Passed, IReadOnlyList<string> Missing, Run Run);

    public async Task<Run> RunAsync(Guid orgId, Guid runAs, string skillKey, JsonObject inputs, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateTenantScope(orgId, runAs);
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<Use60Db>();
        var rep = await db.Users.AsNoTracking().SingleAsync(u => u.Id == runAs, cancellationToken);
        var skill = await services.GetRequiredService<SkillCatalog>().FindAsync(orgId, skillKey, cancellationToken);
        if (skill is null) return new Run(skillKey, rep.Name, 0, [], new SlackMessage($"There is no skill or sequence '{skillKey}'."), $"There is no skill or sequence '{skillKey}'.");

        var session = services.GetRequiredService<CopilotSession>().Start(rep);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = await services.GetRequiredService<CopilotTools>().CallAsync(CopilotTools.ExecuteAction, new KernelArguments
            {
                ["action"] = skill.IsSequence ? "run_sequence" : "run_skill",
                ["params"] = skill.IsSequence
                    ? new JsonObject { ["sequence_key"] = skill.Key, ["inputs"] = inputs.DeepClone() }
                    : new JsonObject { ["skill_key"] = skill.Key, ["inputs"] = inputs.DeepClone() },
                ["is_simulation"] = true,
            }, cancellationToken);
            var error = (string?)result["error"];
            var text = error is not null ? $"The run stopped: {error}"
                : skill.IsSequence ? $"{skill.Name}: done." : $"{skill.Name}: the instructions the model would follow.";
            var message = CopilotBlocks.Answer(new CopilotAnswer(0, text, session.Structured, session.Previews, null));
            return new Run(skill.Key, rep.Name, (int)Stopwatch.GetElapsedTime(started).TotalMilliseconds, [.. session.Trace], message, error);
        }
        finally
        {
            await transaction.RollbackAsync(CancellationToken.None);
        }
    }

    /// <summary>Which expected facts the run's output lacks (compared without regard to case).</summary>
    public static IReadOnlyList<string> Missing(Run run, IEnumerable<string> facts)
    {
        var evidence = run.Evidence;
        return [.. facts.Where(f => !evidence.Contains(f, StringComparison.OrdinalIgnoreCase))];
    }

    public async Task<IReadOnlyList<Case>> CasesAsync(Use60Db db, CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<Case>($"""
            SELECT id AS "Id", name AS "Name", run_as AS "RunAs", skill_key AS "SkillKey", inputs::text AS "Inputs", expected_facts AS "ExpectedFacts",
                   last_run_at AS "LastRunAt", last_passed AS "LastPassed", last_missing AS "LastMissing"
            FROM copilot_lab_cases ORDER BY created_at, id
            """).ToListAsync(cancellationToken);

    public async Task SaveCaseAsync(Use60Db db, Guid orgId, Guid createdBy, string name, Guid runAs, string skillKey, JsonObject inputs, string[] facts,
        CancellationToken cancellationToken) =>
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO copilot_lab_cases (id, org_id, name, run_as, skill_key, inputs, expected_facts, created_by, created_at)
            VALUES ({Guid.CreateVersion7()}, {orgId}, {name.Trim()}, {runAs}, {skillKey}, {inputs.ToJsonString()}::jsonb, {facts}, {createdBy}, {clock.GetUtcNow()})
            """, cancellationToken);

    /// <summary>Runs every saved case and records whether each passed: the regression suite.</summary>
    public async Task<IReadOnlyList<Outcome>> RunSuiteAsync(Use60Db db, Guid orgId, CancellationToken cancellationToken)
    {
        var outcomes = new List<Outcome>();
        foreach (var testCase in await CasesAsync(db, cancellationToken))
        {
            var run = await RunAsync(orgId, testCase.RunAs, testCase.SkillKey, JsonNode.Parse(testCase.Inputs) as JsonObject ?? [], cancellationToken);
            var missing = run.Error is null ? Missing(run, testCase.ExpectedFacts) : [.. testCase.ExpectedFacts];
            var passed = run.Error is null && missing.Count == 0;
            await db.Database.ExecuteSqlAsync($"""
                UPDATE copilot_lab_cases SET last_run_at = {clock.GetUtcNow()}, last_passed = {passed}, last_missing = {missing.ToArray()} WHERE id = {testCase.Id}
                """, cancellationToken);
            outcomes.Add(new Outcome(testCase, passed, missing, run));
        }
        return outcomes;
    }
}
