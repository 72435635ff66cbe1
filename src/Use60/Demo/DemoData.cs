using System.Security.Cryptography;
using System.Text;
using Use60.Calendar;
using Use60.Crm;
using Use60.Orgs;

namespace Use60.Demo;

/// <summary>
/// The demo org, "Acme Robotics": fixed Slack ids so scripts, tests and the sandbox can address it, and records
/// dated relative to "now" so it always looks current. Ids are derived from names, so a second run finds and
/// refreshes the same rows instead of adding new ones.
/// </summary>
public static class DemoData
{
    public const string TeamId = "T0DEMO00001";
    public const string OrgName = "Acme Robotics";

    public sealed record Rep(string SlackUserId, string Name, string Email, string TimeZone, UserRole Role);

    public static readonly Rep[] Reps =
    [
        new("U0DEMO00001", "Alex Morgan", "alex@acme-robotics.example", "America/New_York", UserRole.Owner),
        new("U0DEMO00002", "Tom Bennett", "tom@acme-robotics.example", "Europe/London", UserRole.Member),
        new("U0DEMO00003", "Priya Sharma", "priya@acme-robotics.example", "Asia/Kolkata", UserRole.Member),
    ];

    public static OrgProfile Profile(Guid orgId) => new()
    {
        OrgId = orgId,
        CompanyName = OrgName,
        Products =
        [
            new ProductInfo { Name = "Picker AMR", Description = "Autonomous mobile robots that pick and carry totes alongside people, live in 6 weeks." },
            new ProductInfo { Name = "Fleet Orchestrator", Description = "Software that plans routes and work for mixed robot fleets and connects to the WMS." },
            new ProductInfo { Name = "Acme Care", Description = "24/7 support with a 4-hour on-site response and a 99.5% robot uptime guarantee." },
        ],
        Competitors =
        [
            new CompetitorInfo { Name = "WidgetCo", Positioning = "WidgetCo sells fixed conveyors: months of install and no change once built. We go live in 6 weeks and re-map in a day." },
            new CompetitorInfo { Name = "Botline Systems", Positioning = "Botline robots need their own floor zone. Ours work beside people, with no re-layout and no downtime to install." },
        ],
        PainPoints =
        [
            "Not enough pickers at peak season",
            "Mis-picks and returns eating margin",
            "Walking time: pickers spend half their shift moving, not picking",
            "Warehouse layout that cannot change without downtime",
        ],
        ValuePropositions =
        [
            "Twice the picks per hour per person",
            "Live in 6 weeks, without changing the layout",
            "Pay per robot per month: no capital project",
        ],
        BrandVoice = "Confident, practical and plain-spoken. Numbers over adjectives; no hype, no jargon.",
    };

    /// <summary>Each company is looked after by one rep (index into <see cref="Reps"/>).</summary>
    public static readonly (string Name, string Domain, string Industry, int Rep)[] Companies =
    [
        ("TechCorp", "techcorp.example", "Electronics manufacturing", 0),
        ("Northwind Logistics", "northwind-logistics.example", "Third-party logistics", 1),
        ("Globex Retail", "globex-retail.example", "Retail", 2),
        ("Initech Foods", "initech-foods.example", "Food distribution", 0),
        ("Umbra Pharma Supply", "umbra-pharma.example", "Pharmaceutical distribution", 1),
        ("Stark Components", "stark-components.example", "Industrial parts", 2),
        ("Wayne Freight", "wayne-freight.example", "Freight", 0),
        ("Hollis Fulfilment", "hollis-fulfilment.example", "E-commerce fulfilment", 1),
        ("Vandelay Imports", "vandelay-imports.example", "Wholesale", 2),
        ("Cyberdyne Parts", "cyberdyne-parts.example", "Automotive parts", 0),
        ("Green Basket Grocers", "green-basket.example", "Grocery", 1),
        ("Tyrell Apparel", "tyrell-apparel.example", "Fashion retail", 2),
        ("Wonka Confectionery", "wonka-confectionery.example", "Food manufacturing", 0),
        ("Pied Piper Electronics", "piedpiper-electronics.example", "Consumer electronics", 1),
        ("Massive Dynamic Supply", "massive-dynamic.example", "Medical supplies", 2),
    ];

    /// <summary>Two contacts per company (index into <see cref="Companies"/>). Two are named Sarah, at different companies.</summary>
    public static readonly (int Company, string First, string Last, string Title)[] Contacts =
    [
        (0, "Sarah", "Chen", "VP Operations"), (0, "Marcus", "Webb", "Warehouse Director"),
        (1, "Sarah", "Okafor", "Head of Fulfilment"), (1, "Dan", "Fischer", "CFO"),
        (2, "Maria", "Lopez", "Director of Supply Chain"), (2, "Kenji", "Watanabe", "IT Director"),
        (3, "Olivia", "Brooks", "Operations Manager"), (3, "Raj", "Patel", "COO"),
        (4, "Emma", "Schultz", "Head of Distribution"), (4, "Luca", "Romano", "Procurement Lead"),
        (5, "Hannah", "Kim", "Plant Manager"), (5, "Victor", "Mensah", "VP Engineering"),
        (6, "Grace", "O'Neil", "Logistics Director"), (6, "Tom", "Hughes", "Finance Director"),
        (7, "Aisha", "Rahman", "Head of Operations"), (7, "Ben", "Carter", "Site Lead"),
        (8, "Chloe", "Martin", "Supply Chain Manager"), (8, "Art", "Vandelay", "Owner"),
        (9, "Nina", "Petrova", "Materials Manager"), (9, "Oscar", "Reyes", "Plant Director"),
        (10, "Leah", "Goldberg", "VP Stores"), (10, "Sam", "Whitfield", "DC Manager"),
        (11, "Zoe", "Laurent", "Head of Logistics"), (11, "Ivan", "Novak", "Automation Lead"),
        (12, "Mia", "Jensen", "Operations Director"), (12, "Felix", "Wagner", "Engineering Manager"),
        (13, "Ruby", "Singh", "Fulfilment Manager"), (13, "Gavin", "Belson", "CEO"),
        (14, "Isla", "Murray", "Director of Operations"), (14, "Noah", "Fraser", "Procurement Director"),
    ];

    static readonly string[] DealKinds =
    [
        "Picker AMR pilot", "Fleet Orchestrator rollout", "Acme Care renewal", "Picker AMR expansion", "Peak-season robot lease",
        "Second site rollout", "WMS integration",
    ];

    // 40 stages: most open, some won and lost, weighted toward the early pipeline.
    static readonly DealStage[] StagePattern =
    [
        DealStage.Lead, DealStage.Qualified, DealStage.Demo, DealStage.Proposal, DealStage.Negotiation,
        DealStage.Qualified, DealStage.Demo, DealStage.ClosedWon, DealStage.Proposal, DealStage.Lead,
        DealStage.Negotiation, DealStage.Demo, DealStage.Qualified, DealStage.ClosedLost, DealStage.Proposal,
        DealStage.Lead, DealStage.Demo, DealStage.Negotiation, DealStage.Qualified, DealStage.ClosedWon,
    ];

    public const int DealCount = 40;

    public sealed record DealSeed(int Index, int Company, int Rep, string Name, DealStage Stage, decimal Amount,
        int CloseInDays, int LastActivityDaysAgo, string? NextStep)
    {
        public bool Stalled => Stage.IsOpen() && LastActivityDaysAgo >= 7;
    }

    public static IEnumerable<DealSeed> Deals()
    {
        for (var i = 0; i < DealCount; i++)
        {
            var company = i % Companies.Length;
            var stage = StagePattern[i % StagePattern.Length];
            var amount = 15_000m + (i * 7_919 % 170) * 1_000m;
            // Every fourth open deal has gone quiet for 8 to 21 days; the rest saw activity in the last 5.
            var lastActivity = stage.IsOpen() && i % 4 == 1 ? 8 + i % 14 : i % 6;
            var closeIn = stage.IsOpen() ? (i * 11 % 70) - 5 : -(i % 30) - 3;
            var name = i == 0 ? "TechCorp — Picker AMR fleet (evaluating vs WidgetCo)" : $"{Companies[company].Name} — {DealKinds[i % DealKinds.Length]}";
            var nextStep = i == 0 ? "Pilot review with Sarah: show uptime numbers against WidgetCo's conveyor quote" : stage.IsOpen() ? "Follow up on open questions" : null;
            yield return new DealSeed(i, company, Companies[company].Rep, name, stage, amount, closeIn, lastActivity, nextStep);
        }
    }

    public static readonly (string Title, int DueInDays, bool Done)[] TaskPattern =
    [
        ("Send the pilot proposal", -1, false),
        ("Share the ROI model with finance", -3, false),
        ("Book the site walk-through", -6, false),
        ("Confirm the security questionnaire answers", 2, false),
        ("Prepare the quarterly business review", 5, false),
        ("Send the meeting recap", -2, true),
    ];

    /// <summary>Each rep's calendar: real meetings (with a contact) and solo focus blocks, in the rep's own local time.</summary>
    public static readonly (int Day, int Hour, int Minute, int Minutes, string Title, bool WithContact, bool Video)[] CalendarPattern =
    [
        (0, 10, 0, 45, "Pilot review", true, true),
        (0, 12, 0, 60, "Focus: pipeline review", false, false),
        (0, 14, 30, 30, "Proposal walkthrough", true, true),
        (1, 9, 30, 30, "Discovery call", true, true),
        (1, 13, 0, 90, "Focus: proposals", false, false),
        (1, 16, 0, 45, "Commercials check-in", true, false),
    ];

    /// <summary>A stable id for a named demo record (a version-5 style UUID from the name).</summary>
    public static Guid Id(string name)
    {
        var hash = SHA1.HashData(Encoding.UTF8.GetBytes("use60-demo:" + name));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    public static string ExternalEventId(int rep, int slot) => $"demo-{Reps[rep].SlackUserId.ToLowerInvariant()}-{slot}";

    public static List<Attendee> Attendees(Rep rep, (string First, string Last, string Email)? contact) =>
        contact is { } c
            ? [new Attendee { Email = rep.Email, Name = rep.Name, ResponseStatus = "accepted", Self = true },
               new Attendee { Email = c.Email, Name = $"{c.First} {c.Last}", ResponseStatus = "accepted" }]
            : [new Attendee { Email = rep.Email, Name = rep.Name, ResponseStatus = "accepted", Self = true }];
}
