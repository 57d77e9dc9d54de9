/*
 * users.c - user accounts (see users.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "arena.h"
#include "log.h"
#include "record.h"
#include "store.h"
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

int
user_key(const char *prefix, const char *name, char *out, size_t outsz)
{
	int	 n = snprintf(out, outsz, "%su:{%s}", prefix, name);

	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

/* Writes a user record; create: only if the name is free, else only if
 * the user exists. */
static enum shoal_status
user_write(struct store *s, struct arena *a, const char *prefix,
    const char *name, const char *password, int create)
{
	char		 key[128], hash[crypto_pwhash_STRBYTES];
	Shoal__User	 u;
	unsigned char	*bytes;
	size_t		 len;
	struct store_cmd cmd;
	struct store_reply out;

	if (!user_name_valid(name) || !user_password_valid(password) ||
	    user_key(prefix, name, key, sizeof key) != 0)
		return SHOAL_REJECT;
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
	store_cmd_set(&cmd, -1, 0, 4, "SET", key, "", create ? "NX" : "XX");
	cmd.argv[2] = (const char *)bytes;
	cmd.argl[2] = len;
	if (store_pipeline(s, a, 1, &cmd, &out) != STORE_OK)
		return SHOAL_UNAVAILABLE;
	if (out.type == STORE_REPLY_STRING)
		return SHOAL_OK;
	return create ? SHOAL_TAKEN : SHOAL_BAD_PASSWORD;
}

enum shoal_status
user_create(struct store *s, struct arena *a, const char *prefix,
    const char *name, const char *password)
{
	return user_write(s, a, prefix, name, password, 1);
}

enum shoal_status
user_set_password(struct store *s, struct arena *a, const char *prefix,
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

enum shoal_status
user_verify(struct store *s, struct store *replica, struct arena *a,
    const char *prefix, const char *name, const char *password)
{
	char			 key[128];
	struct store_value	 v;
	Shoal__User		*u = NULL;
	enum store_result	 rc = STORE_MISSING;

	if (!user_name_valid(name) || strlen(password) > USER_PASSWORD_MAX ||
	    user_key(prefix, name, key, sizeof key) != 0)
		return SHOAL_BAD_PASSWORD;
	if (replica != NULL)
		rc = store_get(replica, a, key, &v);
	if (rc != STORE_OK)
		rc = store_get(s, a, key, &v);
	switch (rc) {
	case STORE_OK:
		if ((u = record_user_decode(a, v.data, v.len)) == NULL)
			log_event("error", "user record for a login does not "
			    "decode");
		break;
	case STORE_MISSING:
		break;
	default:
		return SHOAL_UNAVAILABLE;
	}
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
