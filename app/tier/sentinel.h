/*
 * sentinel.h - where the primary is, as the Sentinels see it, and whether
 * the node they named agrees.
 */
#ifndef SENTINEL_H
#define SENTINEL_H

#include <stddef.h>

struct config;
struct redisContext;

#define SENTINEL_HOST_MAX	256

/*
 * Asks the Sentinels, starting with *last (the one that answered last),
 * where the primary SHOAL_SENTINEL_MASTER is, authenticating with
 * SHOAL_SENTINEL_USER/PASSWORD. The answer is believed only when its
 * address is in SHOAL_REDIS_ALLOWED, or, without that list, when most of
 * the configured Sentinels give it: the workers send the Redis password to
 * that address and trust every record it returns. 0 with host and port
 * filled and *last the one that answered; -1 when no answer qualifies
 * (logged).
 */
int	sentinel_find_primary(const struct config *, int *last, char *host,
	    size_t hostsz, int *port) __attribute__((warn_unused_result));
/*
 * 0 when the node c is connected to says ROLE master. Sentinel may still
 * name a node that was just demoted; -1 with the reason in why.
 */
int	sentinel_is_primary(struct redisContext *c, char *why, size_t whysz)
	    __attribute__((warn_unused_result));

#endif
