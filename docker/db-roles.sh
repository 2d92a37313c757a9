#!/bin/sh
# compose's one-shot db-roles, as the server's superuser (PGHOST, PGUSER, PGPASSWORD,
# PGDATABASE): the owner and runtime roles of scripts/db-roles.sql, then their passwords.
# Idempotent: it runs on every `up`.
set -eu
psql -v ON_ERROR_STOP=1 -q -v db="$PGDATABASE" -v owner=fileflow_owner -v app=fileflow_app \
    -f /fileflow/db-roles.sql
psql -v ON_ERROR_STOP=1 -q -v owner_password="$FILEFLOW_DB_OWNER_PASSWORD" \
    -v app_password="$FILEFLOW_DB_APP_PASSWORD" <<'SQL'
ALTER ROLE fileflow_owner PASSWORD :'owner_password';
ALTER ROLE fileflow_app PASSWORD :'app_password';
SQL
echo "roles ready: fileflow_owner (schema), fileflow_app (rows)"
