using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Use60.Crm;

namespace Use60.Privacy;

/// <summary>A contact field that cannot be stored as given; <see cref="Exception.Message"/> says why in words for the person who typed it.</summary>
public sealed class ContactFieldException(string field, string message) : Exception(message)
{
    /// <summary>Which field: <see cref="ContactFields.EmailField"/>, <see cref="ContactFields.PhoneField"/> or <see cref="ContactFields.LinkedInField"/>.</summary>
    public string Field { get; } = field;
}

/// <summary>
/// Every contact EF writes (copilot, CRM sync, admin, import, demo seed) passes here: the email, phone and LinkedIn URL being written
/// are normalised or the save is refused with a <see cref="ContactFieldException"/>, and the data-quality score is recomputed.
/// Values already stored and not being changed are scored but never refused, so a row from before validation can still be edited.
/// It is its own interceptor, registered ahead of any other, so it sees the plaintext before anything seals it.
/// </summary>
public sealed class ContactValidation : SaveChangesInterceptor
{
    public static readonly ContactValidation Instance = new();

    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        if (eventData.Context is { } context) Apply(context);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context) Apply(context);
        return ValueTask.FromResult(result);
    }

    static void Apply(DbContext context)
    {
        var touched = false;
        foreach (var entry in context.ChangeTracker.Entries<Contact>())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified)) continue;
            touched = true;
            var contact = entry.Entity;
            contact.Email = Normalised(entry, entry.Property(c => c.Email), ContactFields.EmailField, ContactFields.Email);
            contact.Phone = Normalised(entry, entry.Property(c => c.Phone), ContactFields.PhoneField, p => ContactFields.Phone(p));
            contact.LinkedinUrl = Normalised(entry, entry.Property(c => c.LinkedinUrl), ContactFields.LinkedInField, ContactFields.LinkedIn);
            contact.DataQualityScore = ContactQuality.Assess(contact.FirstName, contact.LastName, contact.Title, contact.CompanyId,
                contact.Email, contact.Phone, contact.LinkedinUrl).Score;
        }
        // The entities' own values changed: let the tracker see them before the save reads it.
        if (touched) context.ChangeTracker.DetectChanges();
    }

    static string? Normalised(EntityEntry<Contact> entry, PropertyEntry<Contact, string?> property, string field, Func<string?, FieldResult> check)
    {
        if (entry.State == EntityState.Modified && !property.IsModified) return property.CurrentValue;
        var result = check(property.CurrentValue);
        return result.IsValid ? result.Value : throw new ContactFieldException(field, result.Problem!);
    }
}
