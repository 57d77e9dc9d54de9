/*
 * sid.h - session IDs and the cookie that carries them.
 *
 * An ID is 32 random bytes. The cookie value is base64url(key id || ID ||
 * MAC), MAC = crypto_auth(key, key id || ID): 65 bytes, 87 characters. A
 * cookie whose MAC does not verify is simply anonymous, decided before any
 * Redis command. Redis never sees the ID itself, only a keyed hash of it
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
#define SID_COOKIE_LEN	B64URL_LEN(SID_RAW_BYTES)
#define SID_HASH_BYTES	16

struct sid {
	uint8_t		kid;		/* key that signed (or will sign) it */
	unsigned char	id[SID_BYTES];
};

/* A fresh random ID, to be signed by the keyring's first key. */
void	sid_new(struct sid *, const struct keyring *);
/* Writes the cookie value (SID_COOKIE_LEN characters and a NUL). */
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
