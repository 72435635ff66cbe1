-- 0027: the storage metrics table takes the name the notetaker's specification gives it (the seeds' s3_usage_metrics);
-- its rows, policies and indexes move with it.
ALTER TABLE storage_usage_metrics RENAME TO s3_usage_metrics;
ALTER POLICY storage_usage_metrics_system ON s3_usage_metrics RENAME TO s3_usage_metrics_system;
ALTER POLICY storage_usage_metrics_admin_read ON s3_usage_metrics RENAME TO s3_usage_metrics_admin_read;
ALTER INDEX storage_usage_metrics_pkey RENAME TO s3_usage_metrics_pkey;
