-- The tier's accounts: who may sign in, and what they call themselves.
-- Owned by the migrations' role (shoal_owner); the worker's role, shoal_app,
-- owns nothing and gets only what sign-up, sign-in, a password change and
-- the profile page need: no DELETE, no DDL.

-- The worker's start-up check reads which migrations are applied.
GRANT SELECT ON schema_migrations TO shoal_app;

CREATE TABLE accounts (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- the sign-in name: 3 to 32 of a-z 0-9 _ - (shoal_user_name_valid)
	name		text NOT NULL UNIQUE
			CHECK (name ~ '^[a-z0-9_-]{3,32}$'),
	-- Argon2id, as libsodium's crypto_pwhash_str encodes it
	password_hash	text NOT NULL
			CHECK (password_hash LIKE '$argon2id$%'),
	created		timestamptz NOT NULL DEFAULT now(),
	-- the credential generation: raised by a password change, which ends
	-- every session issued under an older one
	generation	bigint NOT NULL DEFAULT 1 CHECK (generation > 0)
);

CREATE TABLE profiles (
	account_id	bigint PRIMARY KEY
			REFERENCES accounts (id) ON DELETE CASCADE,
	display_name	text NOT NULL DEFAULT ''
			CHECK (length(display_name) <= 64),
	email		text NOT NULL DEFAULT ''
			CHECK (length(email) <= 254),
	updated		timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT ON accounts TO shoal_app;
GRANT UPDATE (password_hash, generation) ON accounts TO shoal_app;
GRANT SELECT, INSERT, UPDATE ON profiles TO shoal_app;
