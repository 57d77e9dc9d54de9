/*
 * users.c - user accounts (see users.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "arena.h"
#include "keys.h"
#include "log.h"
#include "pwhash.h"
#include "record.h"
#include "redis.h"
#include "scripts.h"
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

/* Checks name and password and hashes the password into a new user
 * record for name. */
static enum shoal_status
user_record(struct arena *a, const char *name, const char *password,
    unsigned char **bytes, size_t *len)
{
	char		 hash[crypto_pwhash_STRBYTES];
	Shoal__User	 u;

	if (!user_name_valid(name) || !user_password_valid(password))
		return SHOAL_REJECT;
	switch (pwhash_str(hash, password)) {
	case PWHASH_OK:
		break;
	case PWHASH_BUSY:
		return SHOAL_BUSY;
	default:
		return SHOAL_UNAVAILABLE;
	}
	shoal__user__init(&u);
	u.schema = RECORD_SCHEMA;
	u.name = arena_strdup(a, name);
	u.password_hash = hash;
	u.created = (int64_t)time(NULL);
	*bytes = record_user_encode(a, &u, len);
	sodium_memzero(hash, sizeof hash);
	return SHOAL_OK;
}

enum shoal_status
user_create(struct redis *s, struct arena *a, const char *prefix,
    const char *name, const char *password)
{
	struct redis_key	 key;
	struct redis_batch	 b;
	const struct redis_value *v;
	unsigned char		*bytes;
	size_t			 len, i;
	enum shoal_status	 st;

	if ((st = user_record(a, name, password, &bytes, &len)) != SHOAL_OK)
		return st;
	key_user(&key, prefix, name);
	/* Not idempotent: sent twice, the second would answer "taken". */
	redis_batch_init(&b, a, 0);
	i = redis_set(&b, &key, bytes, len, REDIS_SET_IF_NEW, 0);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "user create");
	v = &b.reply[i];
	if (v->type == REDIS_VALUE_STRING)
		return SHOAL_OK;
	if (v->type != REDIS_VALUE_NIL)
		return redis_bad_reply(s, "user create", "not OK or nil");
	return SHOAL_TAKEN;
}

enum shoal_status
user_set_password(struct redis *s, struct arena *a, const char *prefix,
    const char *name, const char *password, int64_t *generation)
{
	struct redis_key	 key, gen;
	struct redis_batch	 b;
	const struct redis_value *v;
	unsigned char		*bytes;
	size_t			 len, i;
	enum shoal_status	 st;

	if ((st = user_record(a, name, password, &bytes, &len)) != SHOAL_OK)
		return st;
	key_user(&key, prefix, name);
	key_user_generation(&gen, prefix, name);
	redis_batch_init(&b, a, 0);
	i = script_password_set(&b, &key, &gen, bytes, len);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "password change");
	v = &b.reply[i];
	if (v->type != REDIS_VALUE_INT || v->integer < 0)
		return redis_bad_reply(s, "password change", "not a number");
	if (v->integer == 0)
		return SHOAL_BAD_PASSWORD;	/* the user is gone */
	*generation = v->integer;
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

/*
 * Checks a password against the primary (a replica may still hold the
 * password of before a change). An unknown name costs what a wrong
 * password costs: the same round trip, and a hash verified (the dummy's),
 * so timing does not tell who has an account. *generation: the
 * credential generation the password was checked against.
 */
enum shoal_status
user_verify(struct redis *s, struct arena *a, const char *prefix,
    const char *name, const char *password, int64_t *generation)
{
	struct redis_key	 key, gen;
	struct redis_batch	 b;
	const struct redis_value *rec, *g;
	Shoal__User		*u = NULL;
	const char		*hash;
	char			*end;
	size_t			 ri, gi;

	*generation = 0;
	if (!user_name_valid(name) || strlen(password) > USER_PASSWORD_MAX)
		return SHOAL_BAD_PASSWORD;
	key_user(&key, prefix, name);
	key_user_generation(&gen, prefix, name);
	redis_batch_init(&b, a, 1);
	ri = redis_get(&b, &key);
	gi = redis_get(&b, &gen);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "user read");
	rec = &b.reply[ri];
	g = &b.reply[gi];
	if ((rec->type != REDIS_VALUE_STRING && rec->type != REDIS_VALUE_NIL) ||
	    (g->type != REDIS_VALUE_STRING && g->type != REDIS_VALUE_NIL))
		return redis_bad_reply(s, "user read", "not a record");
	if (g->type == REDIS_VALUE_STRING) {
		*generation = strtoll(g->str, &end, 10);
		if (*end != '\0' || *generation < 0)
			return redis_bad_reply(s, "user read",
			    "generation not a number");
	}
	if (rec->type == REDIS_VALUE_STRING &&
	    (u = record_user_decode(a, rec->str, rec->len)) == NULL)
		log_event("error", "user record for a login does not decode");
	if (u == NULL) {
		pthread_once(&dummy_once, make_dummy);
		hash = dummy_hash;
	} else
		hash = u->password_hash;
	switch (pwhash_verify(hash, password)) {
	case PWHASH_OK:
		if (u != NULL)
			return SHOAL_OK;
		log_event("error", "a password matched the dummy hash");
		return SHOAL_BAD_PASSWORD;
	case PWHASH_BUSY:
		return SHOAL_BUSY;
	default:
		return SHOAL_BAD_PASSWORD;
	}
}
