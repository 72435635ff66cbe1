using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using FunctionInvocationContext = Microsoft.SemanticKernel.FunctionInvocationContext;
using Use60.Data;

namespace Use60.Copilot;

/// <summary>
/// The copilot's four tools, the same for every planner: one Semantic Kernel plugin of [KernelFunction] methods whose schemas come from these
/// signatures and descriptions. The offline planner and the LLM both call them through <see cref="Kernel"/>, where
/// <see cref="ToolTelemetry"/> records each call.
/// </summary>
public sealed class CopilotTools
{
    public const string ListSkills = "list_skills", GetSkill = "get_skill", ExecuteAction = "execute_action", ResolveEntity = "resolve_entity";
    const string PluginName = "copilot";

    readonly CopilotSession session;
    readonly SkillCatalog skills;
    readonly CopilotActions actions;
    readonly EntityResolver resolver;

    public CopilotTools(CopilotSession session, SkillCatalog skills, CopilotActions actions, EntityResolver resolver, ToolTelemetry telemetry)
    {
        (this.session, this.skills, this.actions, this.resolver) = (session, skills, actions, resolver);
        Kernel = new Kernel();
        Kernel.FunctionInvocationFilters.Add(telemetry);
        Kernel.Plugins.Add(KernelPluginFactory.CreateFromObject(this, PluginName));
        Functions = [.. Kernel.Plugins[PluginName]];
    }

    public Kernel Kernel { get; }
    public IReadOnlyList<KernelFunction> Functions { get; }

    public KernelFunction this[string name] => Functions.Single(f => f.Name == name);

    /// <summary>
    /// The tools as a model sees them (name, description, JSON schema from the signatures). Each call goes through this
    /// scope's kernel, so its filters (telemetry) run for the model's calls exactly as for the offline planner's.
    /// </summary>
    public IReadOnlyList<AITool> ForModel() => [.. Functions.Select(f => new KernelTool(f, Kernel))];

    sealed class KernelTool(KernelFunction function, Kernel kernel) : DelegatingAIFunction(function)
    {
        // The model sees the bare tool name (list_skills), not the plugin-qualified one.
        public override string Name => function.Name;

        protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken) =>
            (await function.InvokeAsync(kernel, new KernelArguments(arguments), cancellationToken)).GetValue<JsonObject>();
    }

    /// <summary>Calls a tool as any planner does (through the kernel, with telemetry); returns its JSON result.</summary>
    /// <summary>Runs a sequence as the session's rep, in simulation, through execute_action (so its calls are recorded like any other).</summary>
    public Task<JsonObject> RunSequenceAsync(string key, JsonObject inputs, CancellationToken cancellationToken) =>
        CallAsync(ExecuteAction, new KernelArguments
        {
            ["action"] = "run_sequence", ["params"] = new JsonObject { ["sequence_key"] = key, ["inputs"] = inputs },
        }, cancellationToken);

    public async Task<JsonObject> CallAsync(string name, KernelArguments arguments, CancellationToken cancellationToken)
    {
        var result = await this[name].InvokeAsync(Kernel, arguments, cancellationToken);
        return result.GetValue<JsonObject>()!;
    }

    [KernelFunction(ListSkills)]
    [Description("Lists the skills and sequences available to the rep's org: key, name, one-line description, and whether it is a sequence.")]
    public async Task<JsonObject> ListSkillsAsync([Description("Only this category: meetings, email, pipeline, deals")] string? category = null,
        CancellationToken cancellationToken = default)
    {
        var all = await skills.ListAsync(session.OrgId, cancellationToken);
        var chosen = all.Where(s => category is null || string.Equals(s.Category, category.Trim(), StringComparison.OrdinalIgnoreCase));
        return new JsonObject
        {
            ["skills"] = new JsonArray([.. chosen.Select(s => (JsonNode)new JsonObject
            {
                ["key"] = s.Key, ["name"] = s.Name, ["description"] = s.Description, ["category"] = s.Category, ["is_sequence"] = s.IsSequence,
            })]),
        };
    }

    [KernelFunction(GetSkill)]
    [Description("Returns a skill's compiled document (instructions with the org's company, voice and pains filled in), its inputs and actions.")]
    public async Task<JsonObject> GetSkillAsync([Description("The skill's key, from list_skills")] string skill_key, CancellationToken cancellationToken = default)
    {
        var skill = await skills.FindAsync(session.OrgId, skill_key, cancellationToken) ?? throw new ActionException($"There is no skill '{skill_key}'.");
        return new JsonObject
        {
            ["key"] = skill.Key, ["name"] = skill.Name, ["description"] = skill.Description, ["is_sequence"] = skill.IsSequence,
            ["inputs"] = new JsonArray([.. skill.Inputs.Select(i => (JsonNode)new JsonObject { ["name"] = i.Name, ["description"] = i.Description, ["required"] = i.Required })]),
            ["actions"] = new JsonArray([.. skill.Actions.Select(a => (JsonNode)a)]),
            ["document"] = await actions.CompileAsync(skill, cancellationToken),
        };
    }

    [KernelFunction(ExecuteAction)]
    [Description("Runs a CRM action, a skill or a sequence. Actions that change something outside this conversation (send_email, " +
                 "post_slack_message, create_task, update_deal_stage, log_activity) only return a preview the rep must confirm; they never run directly.")]
    public async Task<JsonObject> ExecuteActionAsync(
        [Description("The action: get_meetings_for_period, get_next_meeting, get_last_meeting, get_pipeline_summary, search_deals, get_deal, " +
                     "get_contact, get_overdue_tasks, search_meetings (what was said in recorded meetings: {\"query\":\"TechCorp pricing\"}), draft_email, create_task, update_deal_stage, log_activity, send_email, post_slack_message, " +
                     "run_skill, run_sequence")] string action,
        [Description("The action's parameters as a JSON object, e.g. {\"period\":\"today\"} or {\"sequence_key\":\"seq-next-meeting-command-center\",\"inputs\":{}}")]
        JsonObject? @params = null,
        [Description("true (the default) previews without changing anything; external actions are previewed either way until the rep confirms")]
        bool is_simulation = true,
        CancellationToken cancellationToken = default)
    {
        // A copy: the session keeps the original for the reply's cards, and the model's copy travels on without a parent.
        return (await actions.ExecuteAsync(action, @params ?? [], is_simulation, cancellationToken)).DeepClone().AsObject();
    }

    [KernelFunction(ResolveEntity)]
    [Description("Finds people (contacts), companies and deals from a partial reference such as a first name, a nickname or a company, " +
                 "with candidates and a confidence from 0 to 1. More than one good candidate means: ask the rep which one.")]
    public async Task<JsonObject> ResolveEntityAsync([Description("The reference as the rep wrote it: 'Sarah', 'Bob', 'Acme', 'the TechCorp deal'")] string name,
        [Description("contact, company or deal; omit to search all three")] string? entity_type = null, CancellationToken cancellationToken = default)
    {
        var candidates = await resolver.ResolveAsync(name, entity_type, cancellationToken);
        var good = EntityResolver.Good(candidates);
        return new JsonObject
        {
            ["query"] = name,
            ["status"] = good.Count switch { 0 => "not_found", 1 => "resolved", _ => "ambiguous" },
            ["candidates"] = JsonSerializer.SerializeToNode(candidates.Take(5), CopilotActions.Json),
        };
    }
}

/// <summary>Records every tool call of every planner: tool, a short summary of the arguments, duration, outcome.</summary>
public sealed class ToolTelemetry(Use60Db db, CopilotSession session, TimeProvider clock, ILogger<ToolTelemetry> logger) : IFunctionInvocationFilter
{
    const int MaxSummary = 300;

    List<ToolExecution>? held;

    /// <summary>
    /// From now on this scope's rows are held for <see cref="WriteHeld"/>: a job writes them in the same round trip as its deliveries
    /// instead of one round trip per tool call.
    /// </summary>
    public void Hold() => held ??= [];

    /// <summary>Adds the held rows to <paramref name="batch"/>.</summary>
    public void WriteHeld(DbBatch batch)
    {
        if (held is not { Count: > 0 }) return;
        batch.Execute($"""
            INSERT INTO copilot_tool_executions (org_id, user_id, conversation_id, tool, arguments, duration_ms, outcome, error, created_at)
            SELECT org_id, user_id, conversation_id, tool, arguments, duration_ms, outcome, error, created_at
            FROM jsonb_populate_recordset(NULL::copilot_tool_executions, {JsonSerializer.Serialize(held, DbJson.Options)}::jsonb)
            """);
        held.Clear();
    }

    public async Task OnFunctionInvocationAsync(FunctionInvocationContext context, Func<FunctionInvocationContext, Task> next)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = ToolOutcome.Ok;
        string? error = null;
        try
        {
            await next(context);
            var text = context.Result.GetValue<JsonObject>()?.ToJsonString(CopilotActions.Json) ?? "";
            session.ToolOutputs.Add(text);
            if (text.Contains("\"requires_confirmation\":true", StringComparison.Ordinal)) outcome = ToolOutcome.Preview;
        }
        catch (Exception e) when (e is ActionException or TemplateVariableException)
        {
            // A tool error is an answer the planner can use (ask, or try something else), not a crash.
            (outcome, error) = (ToolOutcome.Error, e.Message);
            context.Result = new FunctionResult(context.Function, new JsonObject { ["error"] = e.Message });
        }
        catch (Exception e)
        {
            // A fault (database, bug) is recorded as such and goes on up: the planner's caller apologises with a reference.
            (outcome, error) = (ToolOutcome.Error, e.GetType().Name);
            throw;
        }
        finally
        {
            var elapsed = Stopwatch.GetElapsedTime(started);
            var row = new ToolExecution
            {
                OrgId = session.OrgId, UserId = session.User.Id, ConversationId = session.ConversationId, Tool = context.Function.Name,
                Arguments = Summary(context.Arguments), DurationMs = (int)elapsed.TotalMilliseconds, Outcome = outcome, Error = error,
                CreatedAt = clock.GetUtcNow(),
            };
            if (held is not null) held.Add(row);
            else
            {
                db.ToolExecutions.Add(row);
                await db.SaveChangesAsync(CancellationToken.None);
            }
            logger.LogInformation("Tool {Tool} {Outcome} in {Elapsed} ms", context.Function.Name, outcome, (int)elapsed.TotalMilliseconds);
        }
    }

    // Names and keys, not whole email bodies: telemetry must not become a second copy of what reps write.
    static string Summary(KernelArguments arguments)
    {
        var parts = arguments.Where(a => a.Value is not null && a.Key != "cancellationToken").Select(a =>
        {
            var text = a.Value is JsonNode node ? node.ToJsonString() : Convert.ToString(a.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            return $"{a.Key}={(text.Length > 80 ? text[..80] + "…" : text)}";
        });
        var summary = string.Join(", ", parts);
        return summary.Length > MaxSummary ? summary[..MaxSummary] + "…" : summary;
    }
}
