/*
 * sid.h - session IDs and the cookie that carries them.
 *
 * An ID is 32 random bytes. The cookie value of a signed-in session is
 * base64url(key id || ID || MAC), MAC = crypto_auth(key, key id || ID): 65
 * bytes, 87 characters. A guest or "remember me" session carries its kind
 * as well, so its idle window is known before the record is read:
 * base64url(key id || kind || ID || MAC over all three), 66 bytes, 88
 * characters. (Signed-in sessions keep the shorter form, which workers of
 * every release read.) A cookie whose MAC does not verify is simply
 * anonymous, decided before any Redis command. Redis never sees the ID itself, only a keyed hash of it
 * (sid_hash, which keys.h puts in the key), so a copy of the database lets
 * nobody sign in.
 */
#ifndef SID_H
#define SID_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "b64url.h"

struct keyring;

#define SID_BYTES	32
#define SID_RAW_BYTES	(1 + SID_BYTES + crypto_auth_BYTES)
#define SID_KIND_RAW_BYTES	(SID_RAW_BYTES + 1)
#define SID_COOKIE_LEN	B64URL_LEN(SID_RAW_BYTES)
#define SID_KIND_COOKIE_LEN	B64URL_LEN(SID_KIND_RAW_BYTES)
#define SID_COOKIE_MAX	SID_KIND_COOKIE_LEN
#define SID_HASH_BYTES	16

/* Which lifetimes a session has: the values of shoal.Kind (session.proto). */
enum sid_kind {
	SID_USER = 0,
	SID_GUEST = 1,
	SID_REMEMBERED = 2,
};

struct sid {
	uint8_t		kid;		/* key that signed (or will sign) it */
	uint8_t		kind;		/* enum sid_kind */
	unsigned char	id[SID_BYTES];
};

/* A fresh random ID of a kind, to be signed by the keyring's first key. */
void	sid_new(struct sid *, const struct keyring *, enum sid_kind);
/* Writes the cookie value (at most SID_COOKIE_MAX characters and a NUL). */
int	sid_encode(const struct sid *, const struct keyring *, char *out,
	    size_t outsz) __attribute__((warn_unused_result));
/* Returns 0 and fills sid when value is a cookie one of our keys signed. */
int	sid_verify(struct sid *, const struct keyring *, const char *value,
	    size_t len) __attribute__((warn_unused_result));
/* The hash that names a session in Redis and in the user's session list:
 * base64url of BLAKE2b-128 of the ID (SID_HASH_LEN characters + NUL). */
#define SID_HASH_LEN	B64URL_LEN(SID_HASH_BYTES)
int	sid_hash(const struct sid *, char *out, size_t outsz)
	    __attribute__((warn_unused_result));

#endif
