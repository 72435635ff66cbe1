using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Use60.Calendar;
using Use60.Crm;
using Use60.Data;

namespace Use60.Privacy;

/// <summary>
/// Contacts' email, phone and LinkedIn URL at rest: sealed with the org's data key when saved, opened when read, so the rest of the
/// app works with <see cref="Contact.Email"/> as plain text. Also keeps calendar events' <see cref="CalendarEvent.AttendeeEmailHashes"/>.
/// Runs inside SaveChanges, after anything Use60Db.SaveChangesAsync does first (validation, timestamps): it only encrypts.
/// </summary>
/// <remarks>
/// Materialisation cannot wait for the database, so the org's keys are read when a tenant scope opens its connection
/// (<see cref="ConnectionOpenedAsync"/>, or <see cref="LoadTenantKeysAsync"/> for a <see cref="DbBatch"/>); the system path, which
/// reads across orgs, must call <see cref="OrgKeyring.GetAsync"/> for an org before reading its contacts as entities.
/// </remarks>
public sealed class PiiSealing : DbConnectionInterceptor, ISaveChangesInterceptor, IMaterializationInterceptor
{
    /// <summary>One instance for every context (as EF wants of a materialisation interceptor); each context brings its app's keyring.</summary>
    public static readonly PiiSealing Instance = new();

    PiiSealing() { }

    public const string EmailField = "contact.email", PhoneField = "contact.phone", LinkedinUrlField = "contact.linkedin_url";

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is Use60Db { Tenant.OrgId: { } orgId } db) await db.Keyring.GetAsync(orgId, create: false, cancellationToken);
    }

    /// <summary>Reads the scope's org keys (from memory, mostly): what a batch that opens its own connection calls.</summary>
    public static async Task LoadTenantKeysAsync(Use60Db db, CancellationToken cancellationToken)
    {
        if (db.Tenant.OrgId is { } orgId) await db.Keyring.GetAsync(orgId, create: false, cancellationToken);
    }

    /// <summary>The scope's org keys as read when its connection opened (null: the org has none, so nothing of it is sealed).</summary>
    public static OrgKeys? TenantKeys(Use60Db db) => db.Tenant.OrgId is { } orgId ? db.Keyring.Loaded(orgId) : null;

    public object InitializedInstance(MaterializationInterceptionData materializationData, object entity)
    {
        if (entity is Contact contact && materializationData.Context is Use60Db db) Open(contact, db.Keyring);
        return entity;
    }

    static void Open(Contact contact, OrgKeyring keyring)
    {
        if (contact.EmailSealed is not null || contact.PhoneSealed is not null || contact.LinkedinUrlSealed is not null)
        {
            var keys = keyring.Loaded(contact.OrgId) ?? throw new System.Security.Cryptography.CryptographicException(
                $"Contact {contact.Id} holds sealed fields but the keys of org {contact.OrgId} are not loaded: read contacts in their org's tenant " +
                "scope (or call OrgKeyring.GetAsync for the org first on the system path), or the values were copied from another org.");
            Open(contact, keys);
        }
        else contact.SealedFrom = (contact.Email, contact.Phone, contact.LinkedinUrl);
    }

    public async ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
    {
        if (eventData.Context is not Use60Db db) return result;
        var keyring = db.Keyring;
        var changed = false;
        foreach (var entry in db.ChangeTracker.Entries<Contact>().Where(e => e.State is not (EntityState.Deleted or EntityState.Detached)).ToList())
        {
            var contact = entry.Entity;
            var plaintext = (contact.Email, contact.Phone, contact.LinkedinUrl);
            var consistent = (contact.Email is null) == (contact.EmailSealed is null) && (contact.Phone is null) == (contact.PhoneSealed is null)
                             && (contact.LinkedinUrl is null) == (contact.LinkedinUrlSealed is null);
            if (entry.State != EntityState.Added && contact.SealedFrom == plaintext && consistent) continue;
            Seal(contact, await keyring.ForAsync(contact.OrgId, cancellationToken));
            changed = true;
        }
        foreach (var entry in db.ChangeTracker.Entries<CalendarEvent>().Where(e => e.State is not (EntityState.Deleted or EntityState.Detached)).ToList())
        {
            var calendarEvent = entry.Entity;
            var keys = await keyring.ForAsync(calendarEvent.OrgId, cancellationToken);
            var hashes = calendarEvent.Attendees.Select(a => keys.BlindIndex(a.Email)).Distinct().Order(StringComparer.Ordinal).ToArray();
            if (calendarEvent.AttendeeEmailHashes is { } stored && stored.SequenceEqual(hashes)) continue;
            calendarEvent.AttendeeEmailHashes = hashes;
            changed = true;
        }
        if (changed) db.ChangeTracker.DetectChanges();
        return result;
    }

    /// <summary>Seals the contact's plaintext fields under the org's current data key (what reencrypt and the start-up pass also use).</summary>
    public static void Seal(Contact contact, OrgKeys keys)
    {
        var boundTo = contact.Id.ToString();
        contact.EmailSealed = contact.Email is null ? null : keys.Seal(EmailField, boundTo, contact.Email);
        contact.EmailHash = contact.Email is null ? null : keys.BlindIndex(contact.Email);
        contact.PhoneSealed = contact.Phone is null ? null : keys.Seal(PhoneField, boundTo, contact.Phone);
        contact.LinkedinUrlSealed = contact.LinkedinUrl is null ? null : keys.Seal(LinkedinUrlField, boundTo, contact.LinkedinUrl);
        contact.PiiKeyId = contact.Email is null && contact.Phone is null && contact.LinkedinUrl is null ? null : keys.CurrentKeyId;
        contact.SealedFrom = (contact.Email, contact.Phone, contact.LinkedinUrl);
    }

    /// <summary>Opens a contact's sealed fields with <paramref name="keys"/> (reencrypt, the system path).</summary>
    public static void Open(Contact contact, OrgKeys keys)
    {
        var boundTo = contact.Id.ToString();
        contact.Email = contact.EmailSealed is null ? null : keys.Open(EmailField, boundTo, contact.EmailSealed);
        contact.Phone = contact.PhoneSealed is null ? null : keys.Open(PhoneField, boundTo, contact.PhoneSealed);
        contact.LinkedinUrl = contact.LinkedinUrlSealed is null ? null : keys.Open(LinkedinUrlField, boundTo, contact.LinkedinUrlSealed);
        contact.SealedFrom = (contact.Email, contact.Phone, contact.LinkedinUrl);
    }
}
