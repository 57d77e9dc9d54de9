/*
 * users.h - user accounts, in PostgreSQL only (app/tier/db/0001_accounts.sql):
 * the name, the password hash (crypto_pwhash_str, Argon2id), the credential
 * generation, and an empty profile made with the account. Nothing of an
 * account is kept in Redis but the generation's copy the session index
 * checks (lua/index_add.lua, docs/security.md).
 */
#ifndef USERS_H
#define USERS_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

struct db;

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
/*
 * A new account and its empty profile, in one statement. SHOAL_OK with
 * *id, SHOAL_TAKEN, SHOAL_REJECT (bad name or password), SHOAL_BUSY (no
 * turn to hash), SHOAL_UNAVAILABLE (no database: db is NULL, or it does
 * not answer) or SHOAL_INTERNAL. The account's generation is 1.
 */
enum shoal_status user_create(struct db *, const char *name,
	    const char *password, int64_t *id);
/*
 * Replaces the password of account id, if its generation is still
 * `generation` (the one the current password was checked against), and
 * raises the generation by one in the same statement: *generation is the
 * new one. SHOAL_BAD_PASSWORD when the password changed meanwhile.
 */
enum shoal_status user_set_password(struct db *, int64_t id,
	    const char *password, int64_t *generation);
/*
 * Checks a password, on the primary (a replica may still hold the password
 * of before a change). SHOAL_OK with the account's id and the credential
 * generation the password was checked against, SHOAL_BAD_PASSWORD,
 * SHOAL_BUSY, SHOAL_UNAVAILABLE or SHOAL_INTERNAL. An unknown name costs
 * what a wrong password costs.
 */
enum shoal_status user_verify(struct db *, const char *name,
	    const char *password, int64_t *id, int64_t *generation);
#endif
