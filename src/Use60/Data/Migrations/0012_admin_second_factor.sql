-- 0012 admin second factor: TOTP (RFC 6238) for the admin site, with one-time recovery codes; an owner can require it for
-- the whole org. A session is only fully signed in once its second factor is checked.

ALTER TABLE org_settings ADD COLUMN require_admin_second_factor boolean NOT NULL DEFAULT false;
ALTER TABLE admin_sessions
    ADD COLUMN second_factor_at timestamptz,
    ADD COLUMN failed_codes integer NOT NULL DEFAULT 0;

-- The shared secret is sealed with AES-256-GCM (USE60_MASTER_KEY), bound to its user. last_used_step stops a code being
-- used twice.
CREATE TABLE admin_totp (
    org_id           uuid NOT NULL,
    user_id          uuid NOT NULL,
    secret_encrypted bytea NOT NULL,
    created_at       timestamptz NOT NULL,
    confirmed_at     timestamptz,
    last_used_step   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- Stored hashed (SHA-256): the table alone lets nobody in.
CREATE TABLE admin_recovery_codes (
    code_hash  bytea PRIMARY KEY CHECK (length(code_hash) = 32),
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['admin_totp', 'admin_recovery_codes']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()))', t || '_system', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id())) '
                       'WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))', t || '_owner', t);
    END LOOP;
END
$$;
