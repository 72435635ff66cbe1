using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Use60.Admin;
using Use60.Data;

namespace Use60.Privacy.Pages;

/// <summary>
/// Privacy (/admin/privacy): erasure requests for a prospect's email — made by an owner or admin, approved or rejected by another,
/// executed by the privacy-requests job once the 30-day grace period is over — with each one's state, how overdue an approved one
/// is, and what an executed one removed (counts). Row-level security: the org's owners and admins.
/// </summary>
public sealed class PrivacyModel(Use60Db db, PrivacyRequests requests, PrivacyExports exports, TimeProvider clock) : PageModel
{
    public const string PagePath = "/admin/privacy";

    public sealed record Line(PrivacyRequest Request, string RequestedBy, string? DecidedBy, bool Overdue, JsonObject? Result);

    public IReadOnlyList<Line> Lines { get; private set; } = [];

    /// <summary>Person and org exports (row-level security: a user's own conversation exports are never shown here).</summary>
    public IReadOnlyList<PrivacyExport> Exports { get; private set; } = [];

    public string NameOf(Guid userId) => Names.GetValueOrDefault(userId, "someone who left");
    public Guid Me { get; private set; }
    public DateTimeOffset Now { get; private set; }

    [BindProperty] public string? Email { get; set; }

    /// <summary>Or a member of the team (not an owner): chosen, the email is not used.</summary>
    [BindProperty] public Guid? UserId { get; set; }

    /// <summary>Members a request can be about, and everyone's name for the table.</summary>
    public IReadOnlyList<(Guid Id, string Name)> Members { get; private set; } = [];
    public IReadOnlyDictionary<Guid, string> Names { get; private set; } = new Dictionary<Guid, string>();
    [BindProperty] public PrivacyRequestKind Kind { get; set; } = PrivacyRequestKind.RightToBeForgotten;
    public string? Problem { get; private set; }

    [TempData]
    public string? Notice { get; set; }

    public async Task OnGetAsync(CancellationToken cancellationToken) => await LoadAsync(cancellationToken);

    public async Task<IActionResult> OnPostCreateAsync(CancellationToken cancellationToken)
    {
        try
        {
            var request = await requests.CreateAsync(db, Kind, Email, HttpContext, cancellationToken, UserId);
            Notice = request.IsErasure
                ? $"Request made. Another owner or admin must approve it; it is carried out from {request.ExecuteAfter:d MMM yyyy} (30 days' grace)."
                : "Request made: an export of the person's data is being written; it appears under Exports with its download link when ready.";
            return RedirectToPage();
        }
        catch (PrivacyRequestException e)
        {
            Problem = e.Message;
            await LoadAsync(cancellationToken);
            return Page();
        }
    }

    public async Task<IActionResult> OnPostDecideAsync([FromForm] Guid requestId, [FromForm] bool approve, CancellationToken cancellationToken)
    {
        try
        {
            await requests.DecideAsync(db, requestId, approve, HttpContext, cancellationToken);
            Notice = approve ? "Approved: it is carried out once its grace period is over." : "Rejected: nothing will be erased, and the address is no longer kept.";
        }
        catch (PrivacyRequestException e)
        {
            Notice = e.Message;
        }
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostRetryAsync([FromForm] Guid requestId, CancellationToken cancellationToken)
    {
        try
        {
            await requests.RetryAsync(db, requestId, HttpContext, cancellationToken);
            Notice = "It will be tried again within the hour.";
        }
        catch (PrivacyRequestException e)
        {
            Notice = e.Message;
        }
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostExportOrgAsync(CancellationToken cancellationToken)
    {
        await exports.CreateOrgExportAsync(db, HttpContext, cancellationToken);
        Notice = "Export of the whole org started: its progress shows under Exports, and its download link once it is ready.";
        return RedirectToPage();
    }

    /// <summary>A fresh one-time link, shown once (only its token's hash is kept, so it cannot be shown again).</summary>
    public async Task<IActionResult> OnPostLinkAsync([FromForm] Guid exportId, CancellationToken cancellationToken)
    {
        var link = await exports.MakeLinkAsync(db, exportId, cancellationToken);
        Notice = link is null
            ? "That export can no longer be downloaded."
            : $"Download link (works once, until the export expires; getting a new one stops this one): {link}";
        return RedirectToPage();
    }

    async Task LoadAsync(CancellationToken cancellationToken)
    {
        (Me, Now) = (AdminClaims.Signed(User).UserId, clock.GetUtcNow());
        var users = await db.Users.AsNoTracking().OrderBy(u => u.Name).ToListAsync(cancellationToken);
        var names = users.ToDictionary(u => u.Id, u => u.Name);
        Names = names;
        Exports = await db.PrivacyExports.AsNoTracking().OrderByDescending(e => e.RequestedAt).Take(100).ToListAsync(cancellationToken);
        Members = [.. users.Where(u => u.Role != Orgs.UserRole.Owner && u.Id != Me && u.Name != PrivacyRequests.ErasedMember).Select(u => (u.Id, u.Name))];
        var rows = await db.PrivacyRequests.AsNoTracking().OrderByDescending(r => r.RequestedAt).Take(200).ToListAsync(cancellationToken);
        Lines = [.. rows.Select(r => new Line(r, names.GetValueOrDefault(r.RequestedBy, "someone who left"),
            r.DecidedBy is { } decider ? names.GetValueOrDefault(decider, "someone who left") : null,
            r.Status == PrivacyRequestStatus.Approved && r.DecidedAt + PrivacyRequests.Deadline < Now,
            r.Result is { } result ? JsonNode.Parse(result) as JsonObject : null))];
    }

    public static string Label(PrivacyRequestKind kind) => kind switch
    {
        PrivacyRequestKind.RightToBeForgotten => "Right to be forgotten",
        PrivacyRequestKind.Erasure => "Erasure",
        PrivacyRequestKind.Access => "Access",
        _ => "Portability",
    };
}
