namespace Use60.Admin;

/// <summary>
/// What changed between two texts, as the admin site's history pages show it: the lines that went and the lines that came, each
/// trimmed, blank lines left out, in the order they stand. A line that is there as often before as after is unchanged wherever it moved.
/// </summary>
public sealed record LineDiff(IReadOnlyList<string> Removed, IReadOnlyList<string> Added)
{
    public bool IsEmpty => Removed.Count + Added.Count == 0;

    public static LineDiff Of(string? before, string? after)
    {
        var old = Lines(before);
        var now = Lines(after);
        return new LineDiff(Without(old, now), Without(now, old));
    }

    static List<string> Lines(string? text) => [.. (text ?? "").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)];

    /// <summary>The lines of <paramref name="these"/> that <paramref name="others"/> lacks, counting repeats: a line twice here and once there is one.</summary>
    static List<string> Without(List<string> these, List<string> others)
    {
        var left = others.GroupBy(l => l, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var line in these)
        {
            if (left.TryGetValue(line, out var count) && count > 0) left[line] = count - 1;
            else missing.Add(line);
        }
        return missing;
    }
}
