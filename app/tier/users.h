/*
 * users.h - user accounts: names, password hashes (crypto_pwhash_str,
 * Argon2id), stored as User records, one key per name (keys.h).
 */
#ifndef USERS_H
#define USERS_H

#include <stddef.h>

#include "shoal.h"

struct arena;
struct redis;

#define USER_NAME_MIN		3
#define USER_NAME_MAX		32
#define USER_PASSWORD_MIN	8
#define USER_PASSWORD_MAX	128

/* 1 when name is 3-32 of a-z 0-9 _ - */
int	user_name_valid(const char *);
int	user_password_valid(const char *);
/* SHOAL_OK, SHOAL_TAKEN or SHOAL_UNAVAILABLE. */
enum shoal_status user_create(struct redis *, struct arena *, const char *prefix,
	    const char *name, const char *password);
/* Replaces the password of an existing user. */
enum shoal_status user_set_password(struct redis *, struct arena *,
	    const char *prefix, const char *name, const char *password);
/*
 * SHOAL_OK, SHOAL_BAD_PASSWORD or SHOAL_UNAVAILABLE. The record is read
 * from the replica when there is one (NULL: none), and from the primary when
 * the replica misses it or is down: a user who just signed up can sign in
 * before the replica has caught up.
 */
enum shoal_status user_verify(struct redis *primary, struct redis *replica,
	    struct arena *, const char *prefix, const char *name,
	    const char *password);

#endif
