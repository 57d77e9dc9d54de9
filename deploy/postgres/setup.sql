-- setup.sql - the roles and the database of shoal's tier, run once on a new
-- primary by the superuser over the unix socket (psql -v ON_ERROR_STOP=1).
-- Passwords are not here: the starter sets them afterwards with ALTER ROLE,
-- over the same socket, from files of mode 0600.
--
--   shoal_owner  owns database shoal, its schema and every table; runs the
--                migrations, which GRANT shoal_app what the app needs
--   shoal_app    logs in, owns nothing, may create nothing
--   shoal_repl   replication only

CREATE ROLE shoal_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE ROLE shoal_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
	NOINHERIT CONNECTION LIMIT 200;
CREATE ROLE shoal_repl LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE;

-- The app's sessions are short: a statement that runs away or a transaction
-- left open is cut off by the server as well as by the worker. Role
-- settings are applied when PgBouncer opens a server connection, so they
-- hold under transaction pooling.
ALTER ROLE shoal_app SET statement_timeout = '5s';
ALTER ROLE shoal_app SET lock_timeout = '2s';
ALTER ROLE shoal_app SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE shoal_owner SET lock_timeout = '10s';

CREATE DATABASE shoal OWNER shoal_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE shoal FROM PUBLIC;
GRANT CONNECT ON DATABASE shoal TO shoal_app;

\connect shoal
-- Only the owner creates objects: no CREATE on schema public for anyone
-- else (PostgreSQL 15's default, made explicit), and nothing the app could
-- use from the other databases' defaults.
ALTER SCHEMA public OWNER TO shoal_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO shoal_app;
