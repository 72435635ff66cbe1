using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Copilot;

/// <summary>
/// The copilot's persona for one rep: a colleague at the rep's company who knows its products, competitors and
/// buyers' pains, speaks in its voice, addresses the rep by name, and knows today's date in the rep's time zone.
/// </summary>
public sealed class Persona(Use60Db db)
{
    public async Task<string> CompileAsync(AppUser rep, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var profile = await db.OrgProfiles.AsNoTracking().SingleOrDefaultAsync(p => p.OrgId == rep.OrgId, cancellationToken);
        return Compile(profile, rep, now);
    }

    public static string Compile(OrgProfile? profile, AppUser rep, DateTimeOffset now)
    {
        var zone = TimeZones.Find(rep.TimeZone);
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var company = string.IsNullOrWhiteSpace(profile?.CompanyName) ? "the company" : profile.CompanyName;
        var first = rep.Name.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? rep.Name;
        var text = new StringBuilder();
        text.AppendLine($"You are use60, {company}'s AI sales teammate. You work with {rep.Name}; call them {first}.");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Today is {local:dddd d MMMM yyyy}, {local:HH:mm} in {first}'s time zone ({zone.Id}). Dates you mention are in that zone.");
        if (profile is not null)
        {
            if (profile.Products.Count > 0)
                text.AppendLine($"What {company} sells: " + string.Join("; ", profile.Products.Select(p => string.IsNullOrWhiteSpace(p.Description) ? p.Name : $"{p.Name} — {p.Description}")) + ".");
            if (profile.Competitors.Count > 0)
                text.AppendLine("Competitors and how we win: " + string.Join("; ", profile.Competitors.Select(c => string.IsNullOrWhiteSpace(c.Positioning) ? c.Name : $"{c.Name}: {c.Positioning}")) + ".");
            if (profile.PainPoints.Count > 0) text.AppendLine("Buyers' pains we solve: " + string.Join("; ", profile.PainPoints) + ".");
            if (profile.ValuePropositions.Count > 0) text.AppendLine("Why customers choose us: " + string.Join("; ", profile.ValuePropositions) + ".");
            if (!string.IsNullOrWhiteSpace(profile.BrandVoice)) text.AppendLine($"Voice: {profile.BrandVoice}");
        }
        text.AppendLine("""
            How you work:
            - Use only your four tools: list_skills, get_skill, execute_action, resolve_entity. Prefer a skill or sequence when one fits.
            - Every figure, name and date you state must come from a tool result in this conversation. Never invent CRM facts; if you do not know, say so.
            - When a name could mean several people, companies or deals (resolve_entity says "ambiguous"), ask which one; do not guess.
            - Emails, tasks, Slack posts and CRM changes are only ever previewed: the rep confirms with a button. Never claim you sent or changed anything.
            - Decline politics, religion and personal data of people outside the CRM politely, and point to what you can do.
            - Be brief: Slack messages, a few lines, plain words.
            """);
        return text.ToString();
    }
}
