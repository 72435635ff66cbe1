-- Re-applied after every migration run (so a new table or a new app role is covered at once): what the
-- app's own role, the user of DATABASE_URL, may do. {app_role} is that role's quoted name. Row-level
-- security then decides which rows; these grants decide which statements.
GRANT USAGE ON SCHEMA public TO {app_role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app_role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app_role};
-- Append-only for the app as for everyone (the table's triggers refuse it even to the owner).
REVOKE UPDATE, DELETE, TRUNCATE ON security_audit_log FROM {app_role};
-- The app reads which migrations are applied (readiness); only the owner applies them.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM {app_role};
