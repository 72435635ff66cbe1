namespace Use60.Tests.Infrastructure;

/// <summary>
/// The fault drills run one after another: each starts app processes and counts on their latency, so two drills at once on a
/// small CI machine would mostly measure each other.
/// </summary>
[CollectionDefinition(Name)]
public sealed class DrillCollection
{
    public const string Name = "drills";
}
