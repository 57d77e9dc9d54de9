/*
 * throttle.h - limits on failed sign-ins, per user name and client address,
 * kept in Redis so every worker sees the same count: after
 * SHOAL_LOGIN_MAX_FAILS failures within SHOAL_LOGIN_WINDOW seconds, sign-in
 * answers 429 until the window (which starts at the first failure) ends,
 * even for the right password. One counter per name and address (keys.h).
 *
 * The client address is REMOTE_ADDR, or, only when REMOTE_ADDR is one of
 * SHOAL_TRUSTED_PROXIES, the last address in X-Forwarded-For that is not a
 * trusted proxy itself: a client cannot choose its own address by sending
 * the header directly.
 */
#ifndef THROTTLE_H
#define THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

struct arena;
struct config;
struct redis;

/* The address sign-in attempts are counted against. */
const char	*throttle_client(struct shoal_req *);
/* 1 when addr (text) is in the list of addresses and CIDR blocks. */
int		 throttle_trusted(const char *list, const char *addr);
/*
 * SHOAL_OK to go ahead, SHOAL_THROTTLED with *retry_after (seconds) when
 * the limit is reached, or SHOAL_UNAVAILABLE.
 */
enum shoal_status throttle_check(struct redis *, struct arena *,
		    const struct config *, const char *user, const char *addr,
		    int64_t *retry_after);
void		 throttle_failed(struct redis *, struct arena *,
		    const struct config *, const char *user, const char *addr);
void		 throttle_clear(struct redis *, struct arena *,
		    const struct config *, const char *user, const char *addr);

#endif
