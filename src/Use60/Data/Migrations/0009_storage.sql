-- 0009 storage: what each org's recordings cost to keep, one row per org, day and metric, written by the daily metrics
-- job at 00:00 UTC (and by the demo seed), read by the admin site's storage page.

CREATE TABLE storage_usage_metrics (
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    metric_date date NOT NULL,
    metric_type text NOT NULL CHECK (metric_type IN ('storage_gb', 'upload_gb', 'download_gb', 'api_requests')),
    value       numeric(18, 6) NOT NULL CHECK (value >= 0),
    cost_usd    numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    -- Downloads are not metered: they are estimated from storage, as the seed product did.
    estimated   boolean NOT NULL DEFAULT false,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, metric_date, metric_type)
);

ALTER TABLE storage_usage_metrics ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY storage_usage_metrics_system ON storage_usage_metrics TO CURRENT_USER
    USING ((SELECT app_system())) WITH CHECK ((SELECT app_system()));
CREATE POLICY storage_usage_metrics_admin_read ON storage_usage_metrics FOR SELECT
    USING (org_id = (SELECT app_org_id()) AND (SELECT app_is_org_admin()));
