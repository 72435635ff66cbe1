using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Copilot.Pages;

/// <summary>Copilot Lab (/admin/lab): run a skill or sequence as a rep, in simulation; save a run as a test case; re-run every case.</summary>
public sealed class LabModel(Use60Db db, SkillCatalog catalog, CopilotLab lab) : PageModel
{
    public const string PagePath = "/admin/lab";
    const int MaxFacts = 20;

    public IReadOnlyList<AppUser> Reps { get; private set; } = [];
    public IReadOnlyList<SkillDocument> Skills { get; private set; } = [];
    public IReadOnlyList<CopilotLab.Case> Cases { get; private set; } = [];
    public CopilotLab.Run? Result { get; private set; }
    public IReadOnlyList<CopilotLab.Outcome>? Suite { get; private set; }
    public Dictionary<string, string> Problems { get; } = [];

    [BindProperty] public Guid RunAs { get; set; }
    [BindProperty] public string SkillKey { get; set; } = "";
    [BindProperty] public string Inputs { get; set; } = "{}";

    [TempData]
    public string? Notice { get; set; }

    public async Task OnGetAsync(CancellationToken cancellationToken) => await LoadAsync(cancellationToken);

    public async Task<IActionResult> OnPostRunAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        if (Validated() is { } inputs) Result = await lab.RunAsync(AdminClaims.Signed(User).OrgId, RunAs, SkillKey, inputs, cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnPostSaveAsync([FromForm] string? name, [FromForm] string? facts, CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        var inputs = Validated();
        var expected = (facts ?? "").Split('\n').Select(f => f.Trim()).Where(f => f.Length > 0).Distinct().ToArray();
        if (string.IsNullOrWhiteSpace(name) || name.Trim().Length > 200) Problems["name"] = "Name the test case (up to 200 characters).";
        if (expected.Length is 0 or > MaxFacts) Problems["facts"] = $"List 1 to {MaxFacts} key facts, one per line, that the result must contain.";
        if (inputs is null || Problems.Count > 0) return Page();
        var (orgId, me) = AdminClaims.Signed(User);
        await lab.SaveCaseAsync(db, orgId, me, name!, RunAs, SkillKey, inputs, expected, cancellationToken);
        Notice = $"Saved the test case \"{name!.Trim()}\".";
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostSuiteAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        Suite = await lab.RunSuiteAsync(db, AdminClaims.Signed(User).OrgId, cancellationToken);
        Cases = await lab.CasesAsync(db, cancellationToken);
        return Page();
    }

    /// <summary>The inputs as a JSON object, with the rep and skill checked; null (and a problem shown) when something is wrong.</summary>
    JsonObject? Validated()
    {
        if (Reps.All(r => r.Id != RunAs)) Problems["run-as"] = "Pick someone from your org to run as.";
        if (Skills.All(s => s.Key != SkillKey)) Problems["skill"] = "Pick a skill or sequence from the list.";
        JsonObject? inputs = null;
        try
        {
            inputs = JsonNode.Parse(string.IsNullOrWhiteSpace(Inputs) ? "{}" : Inputs) as JsonObject;
            if (inputs is null) Problems["inputs"] = "Inputs must be a JSON object, such as {\"meeting_id\": \"…\"}.";
        }
        catch (JsonException e)
        {
            Problems["inputs"] = $"Inputs are not valid JSON: {e.Message}";
        }
        return Problems.Count == 0 ? inputs : null;
    }

    async Task LoadAsync(CancellationToken cancellationToken)
    {
        var orgId = AdminClaims.Signed(User).OrgId;
        Reps = await db.Users.AsNoTracking().OrderBy(u => u.Name).ToListAsync(cancellationToken);
        Skills = [.. (await catalog.ListAsync(orgId, cancellationToken)).OrderByDescending(s => s.IsSequence).ThenBy(s => s.Key, StringComparer.Ordinal)];
        Cases = await lab.CasesAsync(db, cancellationToken);
        if (RunAs == Guid.Empty) RunAs = AdminClaims.Signed(User).UserId;
    }

    public string NameOf(Guid userId) => Reps.FirstOrDefault(r => r.Id == userId)?.Name ?? "a former member";

    public static string Pretty(string? json)
    {
        if (json is null) return "";
        try
        {
            return JsonNode.Parse(json)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        }
        catch (JsonException)
        {
            return json;
        }
    }
}
