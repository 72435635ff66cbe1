-- 0026 exports (GDPR access and portability): a ZIP of JSON and CSV files about one person (an access or portability request),
-- about the whole org's CRM data (an owner or admin), or of one user's own copilot conversations (/sixty export). The
-- privacy-exports job writes it into the recording store under exports/{org_id}/{id}.zip; it is downloaded once, through a link
-- whose token only the hash of is kept, within 24 hours of being ready, and the stored object is then deleted.
CREATE TABLE privacy_exports (
    id                  uuid PRIMARY KEY,
    org_id              uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('person', 'org', 'conversations')),
    subject_email       text CHECK (subject_email IS NULL OR subject_email ~ '^[^@\s]+@[^@\s]+$'),
    privacy_request_id  uuid REFERENCES privacy_requests (id) ON DELETE SET NULL,
    requested_by        uuid NOT NULL,
    requested_at        timestamptz NOT NULL,
    status              text NOT NULL CHECK (status IN ('queued', 'running', 'ready', 'downloaded', 'expired', 'failed')),
    lease_until         timestamptz,
    started_at          timestamptz,
    rows_done           integer NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
    rows_total          integer CHECK (rows_total >= 0),
    ready_at            timestamptz,
    expires_at          timestamptz,
    object_key          text,
    bytes               bigint,
    token_hash          bytea UNIQUE CHECK (token_hash IS NULL OR length(token_hash) = 32),
    downloaded_at       timestamptz,
    error               text,
    -- A person export forgets whom it was about once it is downloaded, expired or failed.
    CHECK (kind <> 'person' OR subject_email IS NOT NULL OR status IN ('downloaded', 'expired', 'failed')),
    CHECK ((status = 'ready') <= (ready_at IS NOT NULL AND expires_at IS NOT NULL AND object_key IS NOT NULL)),
    FOREIGN KEY (org_id, requested_by) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX privacy_exports_queue ON privacy_exports (requested_at) WHERE status IN ('queued', 'running');
CREATE INDEX privacy_exports_expiry ON privacy_exports (expires_at) WHERE status = 'ready';
CREATE INDEX privacy_exports_by_user ON privacy_exports (org_id, requested_by, requested_at);

-- Person and org exports: the org's owners and admins. A user's own conversation exports: that user only (conversations are
-- private to their user, from admins too). The job and the download link work as the system.
ALTER TABLE privacy_exports ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY privacy_exports_system ON privacy_exports TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
CREATE POLICY privacy_exports_admin ON privacy_exports FOR ALL
    USING (kind IN ('person', 'org') AND org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))
    WITH CHECK (kind IN ('person', 'org') AND org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
CREATE POLICY privacy_exports_own ON privacy_exports FOR ALL
    USING (kind = 'conversations' AND org_id = (SELECT app_org_id()) AND requested_by = (SELECT app_user_id()))
    WITH CHECK (kind = 'conversations' AND org_id = (SELECT app_org_id()) AND requested_by = (SELECT app_user_id()));
