/*
 * users.c - user accounts (see users.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "arena.h"
#include "keys.h"
#include "log.h"
#include "record.h"
#include "redis.h"
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

/* Writes a user record; create: only if the name is free, else only if
 * the user exists. */
static enum shoal_status
user_write(struct redis *s, struct arena *a, const char *prefix,
    const char *name, const char *password, int create)
{
	char			 hash[crypto_pwhash_STRBYTES];
	Shoal__User		 u;
	unsigned char		*bytes;
	size_t			 len, i;
	struct redis_key		 key;
	struct redis_batch	 b;
	const struct redis_value *v;

	if (!user_name_valid(name) || !user_password_valid(password))
		return SHOAL_REJECT;
	key_user(&key, prefix, name);
	if (crypto_pwhash_str(hash, password, strlen(password),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		log_event("error", "password hashing ran out of memory");
		return SHOAL_UNAVAILABLE;
	}
	shoal__user__init(&u);
	u.schema = RECORD_SCHEMA;
	u.name = arena_strdup(a, name);
	u.password_hash = hash;
	u.created = (int64_t)time(NULL);
	bytes = record_user_encode(a, &u, &len);
	sodium_memzero(hash, sizeof hash);
	/* Setting the same password twice is harmless; creating twice is
	 * not (the second would answer "taken"). */
	redis_batch_init(&b, a, !create);
	i = redis_set(&b, &key, bytes, len, create ? REDIS_SET_IF_NEW :
	    REDIS_SET_IF_EXISTS, 0);
	if (redis_run(s, &b) != 0)
		return redis_status(s, create ? "user create" :
		    "password change");
	v = &b.reply[i];
	if (v->type == REDIS_VALUE_STRING)
		return SHOAL_OK;
	if (v->type != REDIS_VALUE_NIL)
		return redis_bad_reply(s, "user write", "not OK or nil");
	return create ? SHOAL_TAKEN : SHOAL_BAD_PASSWORD;
}

enum shoal_status
user_create(struct redis *s, struct arena *a, const char *prefix,
    const char *name, const char *password)
{
	return user_write(s, a, prefix, name, password, 1);
}

enum shoal_status
user_set_password(struct redis *s, struct arena *a, const char *prefix,
    const char *name, const char *password)
{
	return user_write(s, a, prefix, name, password, 0);
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

/* Reads a user record: SHOAL_OK with *v a string or nil. */
static enum shoal_status
user_read(struct redis *s, struct arena *a, const struct redis_key *key,
    const struct redis_value **v)
{
	struct redis_batch	 b;
	size_t			 i;

	redis_batch_init(&b, a, 1);
	i = redis_get(&b, key);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "user read");
	*v = &b.reply[i];
	if ((*v)->type != REDIS_VALUE_STRING && (*v)->type != REDIS_VALUE_NIL)
		return redis_bad_reply(s, "user read", "not a record");
	return SHOAL_OK;
}

enum shoal_status
user_verify(struct redis *s, struct redis *replica, struct arena *a,
    const char *prefix, const char *name, const char *password)
{
	const struct redis_value *v = NULL;
	struct redis_key		 key;
	Shoal__User		*u = NULL;
	enum shoal_status	 st;

	if (!user_name_valid(name) || strlen(password) > USER_PASSWORD_MAX)
		return SHOAL_BAD_PASSWORD;
	key_user(&key, prefix, name);
	/* The replica first; the primary when it fails or has not yet got
	 * an account just created. */
	if (replica != NULL && user_read(replica, a, &key, &v) != SHOAL_OK)
		v = NULL;
	if ((v == NULL || v->type == REDIS_VALUE_NIL) &&
	    (st = user_read(s, a, &key, &v)) != SHOAL_OK)
		return st;
	if (v->type == REDIS_VALUE_STRING &&
	    (u = record_user_decode(a, v->str, v->len)) == NULL)
		log_event("error", "user record for a login does not decode");
	if (u == NULL) {
		pthread_once(&dummy_once, make_dummy);
		if (crypto_pwhash_str_verify(dummy_hash, password,
		    strlen(password)) == 0)
			log_event("error", "a password matched the dummy hash");
		return SHOAL_BAD_PASSWORD;
	}
	if (crypto_pwhash_str_verify(u->password_hash, password,
	    strlen(password)) != 0)
		return SHOAL_BAD_PASSWORD;
	return SHOAL_OK;
}
