-- Least-privilege roles for fileflow. Run once per database as a superuser (or a role with
-- CREATEROLE and ownership of the database):
--   psql -v db=fileflow -v owner=fileflow_owner -v app=fileflow_app -f scripts/db-roles.sql
-- then `fileflow migrate` with the owner's URL, and the services with the app's URL. Set the
-- passwords afterwards with \password (none is written here).
--   owner: owns the schema and tables, applies migrations (DDL).
--   app:   connects, reads and writes rows; no DDL.
SELECT format('CREATE ROLE %I LOGIN', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec

\connect :db
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"owner", :"app";
GRANT USAGE, CREATE ON SCHEMA public TO :"owner";
GRANT USAGE ON SCHEMA public TO :"app";
-- Tables the owner creates from now on (every migration) are usable by the app, and no more.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
