-- 0005 calendar: a rep's Google Calendar connection (refresh token encrypted), the OAuth state of a connect, and
-- the incremental-sync token of each synced calendar.

-- One connection per rep. The refresh token is sealed with AES-256-GCM (a key derived from USE60_MASTER_KEY),
-- bound to the rep, so it does not decrypt on another row. A failing sync backs off (next_sync_at); a token Google
-- revoked stops the sync until the rep connects again.
CREATE TABLE calendar_connections (
    org_id                  uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id                 uuid NOT NULL,
    provider                text NOT NULL DEFAULT 'google' CHECK (provider = 'google'),
    account_email           text,
    refresh_token_encrypted bytea NOT NULL,
    status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    connected_at            timestamptz NOT NULL,
    last_synced_at          timestamptz,
    last_error              text,
    failures                integer NOT NULL DEFAULT 0,
    next_sync_at            timestamptz,
    updated_at              timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- Where the next incremental sync of a calendar starts (Google's nextSyncToken); none means a full sync.
CREATE TABLE calendar_sync_tokens (
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    calendar_id text NOT NULL,
    sync_token  text NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id, calendar_id),
    FOREIGN KEY (org_id, user_id) REFERENCES calendar_connections (org_id, user_id) ON DELETE CASCADE
);

-- The state of a "connect calendar" link: single use, short-lived, stored hashed, and naming the rep it is for.
CREATE TABLE calendar_oauth_states (
    state_hash bytea PRIMARY KEY CHECK (length(state_hash) = 32),
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- Events of every synced calendar; the demo rows and the rep's primary calendar are 'primary'.
ALTER TABLE calendar_events ADD COLUMN calendar_id text NOT NULL DEFAULT 'primary';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['calendar_connections', 'calendar_sync_tokens', 'calendar_oauth_states']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()))', t || '_system', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id())) '
                       'WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))', t || '_owner', t);
    END LOOP;
END
$$;
-- Integration status for the admin site: who is connected and whether their sync works (never the token: the column is
-- sealed, and the admin pages do not select it).
CREATE POLICY calendar_connections_admin_read ON calendar_connections FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
