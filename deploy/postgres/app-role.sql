-- The app's own PostgreSQL role (psql -v app_role=NAME -v app_password=SECRET -f app-role.sql), run as a role that
-- may create roles. It can sign in and nothing more: it owns nothing, and the migrations grant it its rights on the
-- tables (audit/migrations/0002_app_role_rights.py). Safe to run again: an existing role is left as it is, but for
-- its password when one is given. Roles belong to the whole server, so nothing here ever drops one.
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', :'app_role')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'app_role', :'app_password') WHERE :'app_password' <> '' \gexec
