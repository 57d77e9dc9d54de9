/*
 * throttle.h - limits on sign-in and sign-up attempts, kept in Redis so
 * every worker sees the same counts. Within SHOAL_LOGIN_WINDOW seconds (a
 * window that starts at the first attempt and does not slide), sign-in
 * answers 429 once any of these is spent, even for the right password:
 *
 *	SHOAL_LOGIN_MAX_FAILS		for one user name from one source
 *	SHOAL_LOGIN_MAX_FAILS_USER	for one user name from anywhere
 *	SHOAL_LOGIN_MAX_FAILS_SOURCE	from one source, for any user name
 *					(password spraying)
 *
 * An attempt is counted before its password is checked, atomically with
 * the check of the budget (lua/budget_take.lua): any number of attempts at
 * once, at most the budget reach the password hash. A right password gives
 * its attempt back and clears its source's failures for that name.
 * Sign-up has a budget per source (SHOAL_SIGNUP_MAX per
 * SHOAL_SIGNUP_WINDOW), spent before the name is looked at, so probing
 * which names are taken costs the same budget.
 *
 * A source is the client address, or its /64 for IPv6. The client address
 * is REMOTE_ADDR, or, only when REMOTE_ADDR is one of SHOAL_TRUSTED_PROXIES,
 * the last address in X-Forwarded-For that is not a trusted proxy itself:
 * a client cannot choose its own address by sending the header directly.
 */
#ifndef THROTTLE_H
#define THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

struct arena;
struct config;
struct redis;
struct redis_batch;
struct redis_value;

/* The address attempts are counted against. */
const char	*throttle_client(struct shoal_req *);
/*
 * Counts a sign-in attempt: SHOAL_OK to go ahead and check the password,
 * SHOAL_THROTTLED with *retry_after (seconds), or a Redis failure.
 */
enum shoal_status throttle_login_begin(struct redis *, struct arena *,
		    const struct config *, const char *user, const char *addr,
		    int64_t *retry_after);
/* The password was right. */
void		 throttle_login_ok(struct redis *, struct arena *,
		    const struct config *, const char *user, const char *addr);
/* Counts a sign-up attempt, as throttle_login_begin. */
enum shoal_status throttle_signup(struct redis *, struct arena *,
		    const struct config *, const char *addr,
		    int64_t *retry_after);
/*
 * Adds to b the count of one guest session created from addr
 * (SHOAL_GUEST_RATE a minute); returns the index of its reply, which
 * throttle_wait() turns into the seconds to wait (0: within the budget).
 */
size_t		 throttle_guest_take(struct redis_batch *, struct arena *,
		    const struct config *, const char *addr);
int64_t		 throttle_wait(const struct redis_value *);

#endif
