/*
 * users.h - user accounts: names, password hashes (crypto_pwhash_str,
 * Argon2id), stored as User records, one key per name (keys.h).
 */
#ifndef USERS_H
#define USERS_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

struct arena;
struct redis;

#define USER_NAME_MIN		3
#define USER_NAME_MAX		32
#define USER_PASSWORD_MIN	8
#define USER_PASSWORD_MAX	128

/* Makes the hash an unknown name is checked against, before the threads
 * start: it takes 64 MiB once, outside the hashing gate. */
void	users_init(void);
/* 1 when name is 3-32 of a-z 0-9 _ - */
int	user_name_valid(const char *);
int	user_password_valid(const char *);
/* SHOAL_OK, SHOAL_TAKEN, SHOAL_BUSY (no turn to hash) or a Redis failure. */
enum shoal_status user_create(struct redis *, struct arena *, const char *prefix,
	    const char *name, const char *password);
/*
 * Replaces the password of an existing user and moves on its credential
 * generation (*generation: the new one), so no sign-in that checked the old
 * password can still create a session (see lua/password_set.lua).
 */
enum shoal_status user_set_password(struct redis *, struct arena *,
	    const char *prefix, const char *name, const char *password,
	    int64_t *generation);
/*
 * SHOAL_OK, SHOAL_BAD_PASSWORD, SHOAL_BUSY or a Redis failure, with the
 * credential generation the password was checked against. Always on the
 * primary.
 */
enum shoal_status user_verify(struct redis *, struct arena *,
	    const char *prefix, const char *name, const char *password,
	    int64_t *generation);

#endif
