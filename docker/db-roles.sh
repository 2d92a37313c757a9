#!/bin/sh
# compose's one-shot db-roles, as the server's superuser (PGHOST, PGUSER, PGPASSWORD,
# PGDATABASE): the owner and runtime roles of scripts/db-roles.sql, their passwords, and the
# tables of a deployment older than these roles (created by the superuser) handed to the
# owner with the runtime role's rights. Idempotent: it runs on every `up`.
set -eu
psql -v ON_ERROR_STOP=1 -q -v db="$PGDATABASE" -v owner=fileflow_owner -v app=fileflow_app \
    -f /fileflow/db-roles.sql
psql -v ON_ERROR_STOP=1 -q -v owner_password="$FILEFLOW_DB_OWNER_PASSWORD" \
    -v app_password="$FILEFLOW_DB_APP_PASSWORD" <<'SQL'
ALTER ROLE fileflow_owner PASSWORD :'owner_password';
ALTER ROLE fileflow_app PASSWORD :'app_password';
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tableowner <> 'fileflow_owner' LOOP
        EXECUTE format('ALTER TABLE public.%I OWNER TO fileflow_owner', t.tablename);
        RAISE NOTICE 'table % handed to fileflow_owner', t.tablename;
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO fileflow_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO fileflow_app;
SQL
echo "roles ready: fileflow_owner (schema), fileflow_app (rows)"
