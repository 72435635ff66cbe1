using System.Text.RegularExpressions;
using Use60.Crm;

namespace Use60.Recordings;

public sealed record ActionItem(string Title, string Speaker);

/// <summary>What a rep takes from a meeting: a short summary, the decisions, and the action items with who took them.</summary>
public sealed record MeetingNotesResult(string Summary, IReadOnlyList<string> Decisions, IReadOnlyList<ActionItem> ActionItems)
{
    public static readonly MeetingNotesResult Empty = new("", [], []);
}

/// <summary>
/// Notes from a transcript, picked from the words people used ("we agreed…", "I'll send…", what they said about price, timing
/// or risk): the same every time, and no model needed, so the follow-up pack works whichever planner answers.
/// </summary>
public static partial class MeetingNotes
{
    public const int MaxDecisions = 5, MaxActionItems = 5, SummarySentences = 3, MaxTitle = 120, MaxSummary = 600;

    public static MeetingNotesResult Extract(IReadOnlyList<TranscriptSegment>? transcript)
    {
        if (transcript is not { Count: > 0 }) return MeetingNotesResult.Empty;
        var sentences = transcript.SelectMany(segment => Sentence().Matches(segment.Text)
                .Select(m => m.Value.Trim()).Where(s => Words(s) >= 3).Select(s => (segment.Speaker, Text: s)))
            .Select((s, i) => (s.Speaker, s.Text, Order: i)).ToList();

        var decisions = sentences.Where(s => Decision().IsMatch(s.Text)).Select(s => Tidy(s.Text)).Distinct().Take(MaxDecisions).ToList();
        var actions = sentences.Where(s => Commitment().IsMatch(s.Text) && !decisions.Contains(Tidy(s.Text)))
            .Select(s => new ActionItem(Title(s.Text), s.Speaker)).DistinctBy(a => a.Title).Take(MaxActionItems).ToList();

        // The summary: the sentences that carry the most of what deals turn on, in the order they were said.
        var scored = sentences.Select(s => (s.Text, s.Order, Score: Topic().Matches(s.Text).Count)).ToList();
        var chosen = scored.Any(s => s.Score > 0)
            ? scored.Where(s => s.Score > 0).OrderByDescending(s => s.Score).ThenBy(s => s.Order).Take(SummarySentences)
            : scored.Where(s => Words(s.Text) >= 6).Take(2);
        var summary = string.Join(' ', chosen.OrderBy(s => s.Order).Select(s => Tidy(s.Text)));
        if (summary.Length > MaxSummary) summary = summary[..(MaxSummary - 1)].TrimEnd() + "…";
        return new MeetingNotesResult(summary, decisions, actions);
    }

    static int Words(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    static string Tidy(string sentence)
    {
        var text = sentence.Trim();
        return text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
    }

    /// <summary>A task title from a commitment: "I'll send the pricing sheet by Friday." → "Send the pricing sheet by Friday".</summary>
    static string Title(string sentence)
    {
        var text = Opening().Replace(sentence.Trim(), "").TrimEnd('.', '!', '?', ' ');
        text = Tidy(text.Length >= 3 ? text : sentence.Trim().TrimEnd('.', '!', '?'));
        return text.Length <= MaxTitle ? text : text[..(MaxTitle - 1)].TrimEnd() + "…";
    }

    [GeneratedRegex(@"[^.!?]+[.!?]*", RegexOptions.CultureInvariant)]
    private static partial Regex Sentence();

    [GeneratedRegex(@"\b(?:we(?:'ve|\s+have)?\s+agreed|agreed\s+(?:to|on|that)|we(?:'ve|\s+have)?\s+decided|decided\s+(?:to|on|that)|let's\s+go\s+(?:with|ahead)|we'll\s+go\s+(?:with|ahead)|signed\s+off|is\s+approved|we\s+approve)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Decision();

    [GeneratedRegex(@"\b(?:I'll|I\s+will|we'll|we\s+will|you'll|can\s+you|could\s+you|please\s+send|will\s+send|follow\s+up|next\s+step|action\s+item)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Commitment();

    /// <summary>The words a commitment starts with, left out of its task title.</summary>
    [GeneratedRegex(@"^(?:(?:ok(?:ay)?|great|sure|so|and|then|yes|right),?\s+)*(?:I'll|I\s+will|we'll|we\s+will|you'll|can\s+you|could\s+you|please)\s+(?:also\s+)?",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Opening();

    [GeneratedRegex(@"\b(?:budget|price|prices|pricing|cost|costs|discount|contract|renewal|timeline|deadline|quarter|pilot|rollout|launch|decision|approve|approval|sign|legal|procurement|security|compliance|integration|competitor|risk|concern|worried|blocker|priority|goal|requirement|seats|licen[cs]es?)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Topic();
}
