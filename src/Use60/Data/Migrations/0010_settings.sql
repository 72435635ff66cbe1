-- 0010 settings: every version of the org profile and of each skill override, append-only (who, when, what), so the admin
-- site can show the history, a diff, and restore an earlier one as a new revision.

CREATE TABLE org_profile_revisions (
    org_id        uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    revision      integer NOT NULL CHECK (revision > 0),
    profile       jsonb NOT NULL CHECK (jsonb_typeof(profile) = 'object'),
    changed_by    uuid,
    changed_at    timestamptz NOT NULL,
    restored_from integer,
    PRIMARY KEY (org_id, revision)
);

CREATE TABLE skill_override_revisions (
    org_id        uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    skill_key     text NOT NULL,
    revision      integer NOT NULL CHECK (revision > 0),
    document      text,                       -- null: the override was removed (the built-in skill applies again)
    changed_by    uuid,
    changed_at    timestamptz NOT NULL,
    restored_from integer,
    PRIMARY KEY (org_id, skill_key, revision)
);

-- A revision is history: never rewritten (an org's deletion still removes its rows).
CREATE FUNCTION revisions_append_only() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: UPDATE is not allowed', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_profile_revisions', 'skill_override_revisions']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION revisions_append_only()', t || '_no_update', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()))', t || '_system', t);
        -- Owners and admins read the history and add to it; nobody in a tenant deletes it.
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))', t || '_admin_read', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR INSERT WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))', t || '_admin_insert', t);
    END LOOP;
END
$$;
