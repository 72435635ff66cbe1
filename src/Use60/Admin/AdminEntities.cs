using System.ComponentModel.DataAnnotations.Schema;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Use60.Data;
using Use60.Orgs;

namespace Use60.Admin;

/// <summary>A one-time sign-in link. Only the SHA-256 of its token is stored; the token itself is shown once.</summary>
[Table("admin_login_links")]
public sealed class AdminLoginLink : IOrgOwned, ICreatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public required byte[] TokenHash { get; set; }

    /// <summary>cli (dotnet run -- admin-link) or slack (/sixty login).</summary>
    public required string CreatedVia { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? UsedAt { get; set; }
}

/// <summary>A signed-in admin browser. The cookie names the session; signing out or idling ends it here, on the server.</summary>
[Table("admin_sessions")]
public sealed class AdminSession : IOrgOwned, ICreatedAt
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastSeenAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public IPAddress? IpAddress { get; set; }
    public string? UserAgent { get; set; }

    /// <summary>When this session's second factor was checked; null while it still needs one (if the user or org uses one).</summary>
    public DateTimeOffset? SecondFactorAt { get; set; }

    /// <summary>Wrong codes typed in this session; too many end it.</summary>
    public int FailedCodes { get; set; }
}

sealed class AdminEntitiesConfiguration : IEntityTypeConfiguration<AdminLoginLink>, IEntityTypeConfiguration<AdminSession>
{
    public void Configure(EntityTypeBuilder<AdminLoginLink> link) => link.References<AdminLoginLink, AppUser>(l => l.UserId);

    public void Configure(EntityTypeBuilder<AdminSession> session) => session.References<AdminSession, AppUser>(s => s.UserId);
}
