/*
 * keys.h - the name of every Redis key shoal uses, in one place.
 *
 *	PREFIX s:{HASH}			a session record (HASH: sid_hash of its ID)
 *	PREFIX u:{USER}			(was a user record; accounts are in
 *					PostgreSQL now, users.h)
 *	PREFIX u:{USER}:generation	a copy of the user's credential
 *					generation, raised only (index_add.lua)
 *	PREFIX u:{USER}:sessions	the user's session index (sorted set)
 *	PREFIX u:{USER}:meta		when and from what each session started
 *	PREFIX t:{USER}			sign-in attempts for USER from anywhere
 *	PREFIX t:{USER}:SOURCE		sign-in attempts for USER from SOURCE
 *	PREFIX a:{SOURCE}:signin	sign-in attempts from SOURCE, any user
 *	PREFIX a:{SOURCE}:signup	sign-up attempts from SOURCE
 *	PREFIX readyz			written by /readyz, lives 10 s
 *
 * SOURCE is a client address, or its /64 for IPv6 (net_source). The braces
 * are Redis Cluster hash tags: every key a script touches carries the same
 * tag (a user's generation, index, meta and attempt counts share
 * {USER}; a source's counts share {SOURCE}). User names hold no ':' or '.',
 * so a user's tag never equals a source's. Each part has a bound (the prefix's from
 * the settings table, names and hashes from their validators), and the
 * buffers are sized from those bounds, so building a key cannot fail: a part
 * over its bound is a caller's bug and aborts.
 */
#ifndef KEYS_H
#define KEYS_H

#include "sid.h"
#include "users.h"

#define KEY_PREFIX_MAX	64		/* SHOAL_KEY_PREFIX's bound (config.c) */
#define KEY_ADDR_MAX	64		/* bytes of a client address kept */

/* The longest key: prefix, "t:{", user, "}:", address, NUL. */
#define KEY_MAX		(KEY_PREFIX_MAX + 3 + USER_NAME_MAX + 2 + \
			    KEY_ADDR_MAX + 1)

struct redis_key {
	char	 s[KEY_MAX];
};

void	key_probe(struct redis_key *, const char *prefix);
void	key_session(struct redis_key *, const char *prefix, const char *hash);
void	key_user(struct redis_key *, const char *prefix, const char *user);
void	key_user_generation(struct redis_key *, const char *prefix,
	    const char *user);
void	key_index(struct redis_key *, const char *prefix, const char *user);
void	key_index_meta(struct redis_key *, const char *prefix, const char *user);
/* source is cut to KEY_ADDR_MAX bytes, here and below. */
void	key_throttle(struct redis_key *, const char *prefix, const char *user,
	    const char *source);
void	key_throttle_user(struct redis_key *, const char *prefix,
	    const char *user);
void	key_source_signin(struct redis_key *, const char *prefix,
	    const char *source);
void	key_source_signup(struct redis_key *, const char *prefix,
	    const char *source);
void	key_source_guest(struct redis_key *, const char *prefix,
	    const char *source);

#endif
