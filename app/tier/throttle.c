/*
 * throttle.c - failed sign-in limits (see throttle.h).
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "request.h"
#include "throttle.h"

#define ADDR_MAX	64

/* Parses "ADDR" or "ADDR/BITS" into 16 bytes (v4 mapped) and a prefix. */
static int
parse_net(const char *s, size_t len, unsigned char net[16], int *bits)
{
	char		 text[ADDR_MAX];
	const char	*slash;
	struct in_addr	 v4;
	long		 b;
	char		*end;
	int		 is_v4;

	slash = memchr(s, '/', len);
	if ((slash ? (size_t)(slash - s) : len) >= sizeof text)
		return -1;
	memcpy(text, s, slash ? (size_t)(slash - s) : len);
	text[slash ? (size_t)(slash - s) : len] = '\0';
	is_v4 = inet_pton(AF_INET, text, &v4) == 1;
	if (is_v4) {
		memset(net, 0, 10);
		net[10] = net[11] = 0xff;
		memcpy(net + 12, &v4, 4);
	} else if (inet_pton(AF_INET6, text, net) != 1)
		return -1;
	*bits = 128;
	if (slash != NULL) {
		if (slash + 1 == s + len || slash[1] < '0' || slash[1] > '9')
			return -1;
		b = strtol(slash + 1, &end, 10);
		if (end != s + len || b < 0 || b > (is_v4 ? 32 : 128))
			return -1;
		*bits = (int)b + (is_v4 ? 96 : 0);
	}
	return 0;
}

static int
in_net(const unsigned char a[16], const unsigned char net[16], int bits)
{
	int	 i;

	for (i = 0; bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff :
		    (unsigned char)(0xff << (8 - bits));

		if ((a[i] & mask) != (net[i] & mask))
			return 0;
	}
	return 1;
}

int
throttle_trusted(const char *list, const char *addr)
{
	unsigned char	 a[16], net[16];
	const char	*p = list, *comma;
	size_t		 len;
	int		 bits;

	if (list == NULL || addr == NULL ||
	    parse_net(addr, strlen(addr), a, &bits) != 0 || bits != 128)
		return 0;
	while (*p != '\0') {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (parse_net(p, len, net, &bits) == 0 && in_net(a, net, bits))
			return 1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

static int
is_address(const char *s)
{
	unsigned char	 a[16];
	int		 bits;

	return parse_net(s, strlen(s), a, &bits) == 0 && bits == 128;
}

const char *
throttle_client(struct shoal_req *r)
{
	const char	*remote = shoal_header(r, "REMOTE_ADDR");
	const char	*xff, *end, *start, *comma;
	const char	*trusted = r->t->cfg->trusted_proxies;
	char		*cand;

	if (remote == NULL)
		return "unknown";
	if (trusted[0] == '\0' || !throttle_trusted(trusted, remote) ||
	    (xff = shoal_header(r, "HTTP_X_FORWARDED_FOR")) == NULL)
		return remote;
	/* Right to left: the first hop no trusted proxy vouches for. */
	end = xff + strlen(xff);
	for (;;) {
		comma = end;
		while (comma > xff && comma[-1] != ',')
			comma--;
		start = comma;
		while (start < end && (*start == ' ' || *start == '\t'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		cand = arena_strndup(&r->t->arena, start, (size_t)(end - start));
		if (!throttle_trusted(trusted, cand))
			/* Only a well-formed address counts. */
			return is_address(cand) ? cand : remote;
		if (comma == xff)
			break;
		end = comma - 1;
	}
	return remote;
}

enum shoal_status
throttle_check(struct redis *s, struct arena *a, const struct config *cfg,
    const char *user, const char *addr, int64_t *retry_after)
{
	struct redis_batch	 b;
	struct redis_key		 key;
	size_t			 count, ttl;

	*retry_after = 0;
	key_throttle(&key, cfg->key_prefix, user, addr);
	redis_batch_init(&b, a, 1);
	count = redis_get(&b, &key);
	ttl = redis_pttl(&b, &key);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "sign-in throttle check");
	if (b.reply[count].type != REDIS_VALUE_STRING ||
	    atol(b.reply[count].str) < cfg->login_max_fails)
		return SHOAL_OK;
	*retry_after = b.reply[ttl].type == REDIS_VALUE_INT &&
	    b.reply[ttl].integer > 0 ? (b.reply[ttl].integer + 999) / 1000 : 1;
	log_event("warn", "sign-in throttled for a user name after %ld "
	    "failures", cfg->login_max_fails);
	return SHOAL_THROTTLED;
}

void
throttle_failed(struct redis *s, struct arena *a, const struct config *cfg,
    const char *user, const char *addr)
{
	struct redis_batch	 b;
	struct redis_key		 key;

	/* The window starts at the first failure and does not slide: EXPIRE
	 * NX sets a lifetime only on a count that has none, so a count can
	 * never be left without one. */
	key_throttle(&key, cfg->key_prefix, user, addr);
	redis_batch_init(&b, a, 0);
	redis_incr(&b, &key);
	redis_expire_new(&b, &key, cfg->login_window);
	if (redis_run(s, &b) != 0)
		(void)redis_status(s, "failed sign-in count");
}

void
throttle_clear(struct redis *s, struct arena *a, const struct config *cfg,
    const char *user, const char *addr)
{
	struct redis_batch	 b;
	struct redis_key		 key;

	key_throttle(&key, cfg->key_prefix, user, addr);
	redis_batch_init(&b, a, 1);
	redis_del(&b, &key);
	if (redis_run(s, &b) != 0)
		(void)redis_status(s, "failed sign-ins clear");
}
