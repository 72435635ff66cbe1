-- 0008 security: incidents the security monitor finds in the audit log (credential harvesting, conversation exfiltration,
-- repeated bad Slack signatures), and the Slack alerts their org's owners got, one per owner and incident.

-- One incident per rule, org, user and window: the window starts at the first event of the burst, so however often the
-- monitor runs (and on however many replicas) the same burst never makes two incidents. org_id is null for a system-wide
-- incident (bad Slack signatures name no org): every org's owners and admins see it, and the monitor resolves it once its
-- events stop. No foreign keys to users: like the audit log, an incident outlives the people it speaks of.
CREATE TABLE security_incidents (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid REFERENCES orgs (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('credential_harvesting', 'conversation_exfiltration', 'slack_signature_failures')),
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    subject_user_id uuid,
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    summary         text NOT NULL CHECK (length(summary) BETWEEN 1 AND 500),
    details         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    detected_at     timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolved_by     uuid,
    resolved_at     timestamptz,
    resolution_note text CHECK (length(resolution_note) <= 500),
    CHECK (window_end > window_start),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    UNIQUE NULLS NOT DISTINCT (org_id, kind, subject_user_id, window_start)
);
CREATE INDEX security_incidents_recent ON security_incidents (org_id, detected_at DESC);

-- A critical incident's Slack DM to one owner, claimed here in the same transaction as its outbox row: each owner is
-- alerted once per incident, whatever retries or replicas do.
CREATE TABLE security_incident_alerts (
    incident_id bigint NOT NULL REFERENCES security_incidents (id) ON DELETE CASCADE,
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    outbox_id   bigint,
    alerted_at  timestamptz NOT NULL,
    PRIMARY KEY (incident_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['security_incidents', 'security_incident_alerts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()))', t || '_system', t);
    END LOOP;
END
$$;

-- Owners and admins read their org's incidents and the system-wide ones, open an incident for their org (the monitor does,
-- in an admin's scope) and resolve their org's; the system-wide ones only the monitor writes. Members see none.
CREATE POLICY security_incidents_admin_read ON security_incidents FOR SELECT
    USING ((org_id = (SELECT app_org_id()) OR org_id IS NULL) AND (SELECT app_is_org_admin()));
CREATE POLICY security_incidents_admin_insert ON security_incidents FOR INSERT
    WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
CREATE POLICY security_incidents_admin_update ON security_incidents FOR UPDATE
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));

-- An owner's own alerts are written in their own scope (with their DM); admins may see who was alerted.
CREATE POLICY security_incident_alerts_owner ON security_incident_alerts FOR ALL
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
CREATE POLICY security_incident_alerts_admin_read ON security_incident_alerts FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
