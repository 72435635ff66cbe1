-- 0025 privacy requests (the seeds' gdpr_deletion_requests): an owner or admin asks for a person's data to be erased (right to
-- be forgotten, erasure) or handed over (access, portability). An erasure waits a 30-day grace period from the request and
-- needs the approval of another owner or admin; the privacy-requests job then executes it once. Executed, the request keeps
-- who asked, who approved and counts of what went: the person's address is cleared (also when the request is rejected), so the
-- tombstone holds none of their data.
CREATE TABLE privacy_requests (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('right_to_be_forgotten', 'erasure', 'access', 'portability')),
    subject_email   text CHECK (subject_email IS NULL OR subject_email ~ '^[^@\s]+@[^@\s]+$'),
    -- A member of the org instead of a prospect: after the erasure the user row stays, anonymised, as the owner of the company's records.
    subject_user_id uuid,
    status          text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'completed')),
    requested_by    uuid NOT NULL,
    requested_at    timestamptz NOT NULL,
    decided_by      uuid,
    decided_at      timestamptz,
    execute_after   timestamptz NOT NULL,
    completed_at    timestamptz,
    result          jsonb CHECK (result IS NULL OR jsonb_typeof(result) = 'object'),   -- counts only
    error           text,
    UNIQUE (org_id, id),
    CHECK (decided_by IS NULL OR decided_by <> requested_by),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    -- About a prospect (email) or a member (user), never both; done or refused, it keeps no prospect's address.
    CHECK (subject_email IS NULL OR subject_user_id IS NULL),
    CHECK (status NOT IN ('completed', 'rejected') OR subject_email IS NULL),
    CHECK (status IN ('completed', 'rejected') OR subject_email IS NOT NULL OR subject_user_id IS NOT NULL),
    FOREIGN KEY (org_id, requested_by) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, decided_by) REFERENCES users (org_id, id),
    FOREIGN KEY (org_id, subject_user_id) REFERENCES users (org_id, id)
);
CREATE INDEX privacy_requests_due ON privacy_requests (execute_after) WHERE status = 'approved';
-- One open request per person, even when two admins make one at the same moment.
CREATE UNIQUE INDEX privacy_requests_open_email ON privacy_requests (org_id, subject_email) WHERE status IN ('pending', 'approved');
CREATE UNIQUE INDEX privacy_requests_open_user ON privacy_requests (org_id, subject_user_id) WHERE status IN ('pending', 'approved');

-- An org's owners and admins see and change its requests; the job works as the system.
ALTER TABLE privacy_requests ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY privacy_requests_system ON privacy_requests TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
CREATE POLICY privacy_requests_admin ON privacy_requests FOR ALL
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
