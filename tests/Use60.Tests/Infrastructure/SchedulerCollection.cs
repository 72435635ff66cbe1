namespace Use60.Tests.Infrastructure;

/// <summary>
/// Test classes that start the clustered Quartz scheduler run one after another: Quartz keeps its schedulers by name for the
/// whole process, and two apps of one test process starting and stopping "use60" at once must not meet in it.
/// </summary>
[CollectionDefinition(Name)]
public sealed class SchedulerCollection
{
    public const string Name = "scheduler";
}
