/*
 * users.c - user accounts (see users.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "db.h"
#include "log.h"
#include "pwhash.h"
#include "users.h"

int
user_name_valid(const char *name)
{
	size_t	 n = strlen(name);

	return n >= USER_NAME_MIN && n <= USER_NAME_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int
user_password_valid(const char *pw)
{
	size_t	 n = strlen(pw);

	return n >= USER_PASSWORD_MIN && n <= USER_PASSWORD_MAX;
}

int
shoal_user_name_valid(const char *name)
{
	return user_name_valid(name);
}

int
shoal_password_valid(const char *pw)
{
	return user_password_valid(pw);
}

/* A bigint column as text (PostgreSQL's own output), or -1. */
static int64_t
bigint(const PGresult *res, int col)
{
	const char	*s = PQgetvalue(res, 0, col);
	char		*end;
	long long	 v;

	if (PQgetisnull(res, 0, col) || *s == '\0')
		return -1;
	v = strtoll(s, &end, 10);
	return *end == '\0' && v > 0 ? (int64_t)v : -1;
}

/* Checks name and password and hashes the password into hash. */
static enum shoal_status
hash_password(char hash[crypto_pwhash_STRBYTES], const char *password)
{
	if (!user_password_valid(password))
		return SHOAL_REJECT;
	switch (pwhash_str(hash, password)) {
	case PWHASH_OK:
		return SHOAL_OK;
	case PWHASH_BUSY:
		return SHOAL_BUSY;
	default:
		return SHOAL_UNAVAILABLE;
	}
}

/* The account and its empty profile in one statement, so neither exists
 * without the other. */
static const char sql_create[] =
    "WITH a AS (INSERT INTO accounts (name, password_hash) "
    "VALUES ($1, $2) RETURNING id), "
    "p AS (INSERT INTO profiles (account_id) SELECT id FROM a) "
    "SELECT id FROM a";

enum shoal_status
user_create(struct db *db, const char *name, const char *password,
    int64_t *id)
{
	char		 hash[crypto_pwhash_STRBYTES];
	const char	*params[2];
	PGresult	*res;
	enum shoal_status st;

	*id = 0;
	if (!user_name_valid(name))
		return SHOAL_REJECT;
	if (db == NULL)
		return SHOAL_UNAVAILABLE;
	if ((st = hash_password(hash, password)) != SHOAL_OK)
		return st;
	params[0] = name;
	params[1] = hash;
	/* Not idempotent: sent twice, the second would answer "taken". */
	if (db_exec(db, DB_PRIMARY, sql_create, 2, params, &res) != 0) {
		sodium_memzero(hash, sizeof hash);
		return db_status(db, "account create");
	}
	sodium_memzero(hash, sizeof hash);
	if (PQntuples(res) != 1 || (*id = bigint(res, 0)) < 0) {
		PQclear(res);
		*id = 0;
		log_event("error", "account create: no id returned");
		return SHOAL_INTERNAL;
	}
	PQclear(res);
	return SHOAL_OK;
}

/* Only if the password checked is still the one replaced: two changes
 * that both checked the same password do not both succeed. */
static const char sql_set_password[] =
    "UPDATE accounts SET password_hash = $2, generation = generation + 1 "
    "WHERE id = $1 AND generation = $3 RETURNING generation";

enum shoal_status
user_set_password(struct db *db, int64_t id, const char *password,
    int64_t *generation)
{
	char		 hash[crypto_pwhash_STRBYTES], idtext[24], gentext[24];
	const char	*params[3];
	PGresult	*res;
	enum shoal_status st;
	int		 n;

	if (db == NULL)
		return SHOAL_UNAVAILABLE;
	if ((st = hash_password(hash, password)) != SHOAL_OK)
		return st;
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	snprintf(gentext, sizeof gentext, "%lld", (long long)*generation);
	params[0] = idtext;
	params[1] = hash;
	params[2] = gentext;
	if (db_exec(db, DB_PRIMARY, sql_set_password, 3, params, &res) != 0) {
		sodium_memzero(hash, sizeof hash);
		return db_status(db, "password change");
	}
	sodium_memzero(hash, sizeof hash);
	n = PQntuples(res);
	if (n == 1)
		*generation = bigint(res, 0);
	PQclear(res);
	if (n == 0)
		return SHOAL_BAD_PASSWORD;	/* changed meanwhile */
	if (n != 1 || *generation < 0) {
		log_event("error", "password change: no generation returned");
		return SHOAL_INTERNAL;
	}
	return SHOAL_OK;
}

/*
 * A hash to verify against when the user does not exist, so that a wrong
 * name takes as long as a wrong password and does not reveal who has an
 * account.
 */
static char		dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t	dummy_once = PTHREAD_ONCE_INIT;

static void
make_dummy(void)
{
	unsigned char	 pw[16];

	randombytes_buf(pw, sizeof pw);
	if (crypto_pwhash_str(dummy_hash, (const char *)pw, sizeof pw,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		dummy_hash[0] = '\0';
}

void
users_init(void)
{
	pthread_once(&dummy_once, make_dummy);
}

static const char sql_verify[] =
    "SELECT id, password_hash, generation FROM accounts WHERE name = $1";

/*
 * Reads the account on the primary: a password change committed there is
 * what a sign-in is checked against at once, however far a replica lags.
 * An unknown name costs what a wrong password costs: the same round trip,
 * and a hash verified (the dummy's), so timing does not tell who has an
 * account.
 */
enum shoal_status
user_verify(struct db *db, const char *name, const char *password,
    int64_t *id, int64_t *generation)
{
	PGresult	*res;
	const char	*hash;
	char		*stored = NULL;
	int		 n;

	*id = 0;
	*generation = 0;
	if (!user_name_valid(name) || strlen(password) > USER_PASSWORD_MAX)
		return SHOAL_BAD_PASSWORD;
	if (db == NULL)
		return SHOAL_UNAVAILABLE;
	if (db_exec(db, DB_PRIMARY, sql_verify, 1, &name, &res) != 0)
		return db_status(db, "account read");
	if ((n = PQntuples(res)) == 1) {
		*id = bigint(res, 0);
		*generation = bigint(res, 2);
		if (*id < 0 || *generation < 0) {
			PQclear(res);
			log_event("error", "account read: bad id or "
			    "generation");
			return SHOAL_INTERNAL;
		}
		/* Copied: the result goes before the (long) hashing. */
		if ((stored = strdup(PQgetvalue(res, 0, 1))) == NULL) {
			PQclear(res);
			return SHOAL_INTERNAL;
		}
	}
	PQclear(res);
	if (stored == NULL) {
		pthread_once(&dummy_once, make_dummy);
		hash = dummy_hash;
	} else
		hash = stored;
	switch (pwhash_verify(hash, password)) {
	case PWHASH_OK:
		if (stored != NULL) {
			free(stored);
			return SHOAL_OK;
		}
		log_event("error", "a password matched the dummy hash");
		return SHOAL_BAD_PASSWORD;
	case PWHASH_BUSY:
		free(stored);
		return SHOAL_BUSY;
	default:
		free(stored);
		*id = 0;
		*generation = 0;
		return SHOAL_BAD_PASSWORD;
	}
}
