/*
 * throttle.c - sign-in and sign-up limits (see throttle.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "net.h"
#include "redis.h"
#include "request.h"
#include "scripts.h"
#include "throttle.h"

const char *
throttle_client(struct shoal_req *r)
{
	const char	*remote = shoal_header(r, "REMOTE_ADDR");
	const char	*xff, *end, *start, *comma;
	const char	*trusted = r->t->cfg->trusted_proxies;
	char		*cand;

	if (remote == NULL)
		return "unknown";
	if (trusted[0] == '\0' || !net_in_list(trusted, remote) ||
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
		if (!net_in_list(trusted, cand))
			/* Only a well-formed address counts. */
			return net_is_address(cand) ? cand : remote;
		if (comma == xff)
			break;
		end = comma - 1;
	}
	return remote;
}

/* The source addr is counted as: its /64 for IPv6 (net.h). */
static const char *
source_of(struct arena *a, const char *addr)
{
	char	 src[NET_SOURCE_MAX];

	return net_source(addr, src) == 0 ? arena_strdup(a, src) : "unknown";
}

/* Seconds to wait, from a budget_take reply; 0 when within budget. */
int64_t
throttle_wait(const struct redis_value *v)
{
	if (v->type != REDIS_VALUE_INT || v->integer <= 0)
		return 0;
	return (v->integer + 999) / 1000;
}

enum shoal_status
throttle_login_begin(struct redis *s, struct arena *a,
    const struct config *cfg, const char *user, const char *addr,
    int64_t *retry_after)
{
	struct redis_batch	 b;
	struct redis_key	 pair, account, source;
	const struct redis_key	*by_user[2] = { &pair, &account };
	const struct redis_key	*by_source[1] = { &source };
	const long		 user_budgets[2] = { cfg->login_max_fails,
				    cfg->login_max_fails_user };
	const char		*src = source_of(a, addr);
	size_t			 u, i;
	int64_t			 wait;

	*retry_after = 0;
	key_throttle(&pair, cfg->key_prefix, user, src);
	key_throttle_user(&account, cfg->key_prefix, user);
	key_source_signin(&source, cfg->key_prefix, src);
	redis_batch_init(&b, a, 0);
	u = script_budget_take(&b, by_user, user_budgets, 2, cfg->login_window);
	i = script_budget_take(&b, by_source, &cfg->login_max_fails_source, 1,
	    cfg->login_window);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "sign-in throttle");
	if (b.reply[u].type != REDIS_VALUE_INT ||
	    b.reply[i].type != REDIS_VALUE_INT)
		return redis_bad_reply(s, "sign-in throttle", "not a number");
	wait = throttle_wait(&b.reply[u]) > throttle_wait(&b.reply[i]) ?
	    throttle_wait(&b.reply[u]) : throttle_wait(&b.reply[i]);
	if (wait == 0)
		return SHOAL_OK;
	*retry_after = wait;
	log_event("warn", "sign-in throttled: too many attempts for a user "
	    "name or from one address");
	return SHOAL_THROTTLED;
}

void
throttle_login_ok(struct redis *s, struct arena *a, const struct config *cfg,
    const char *user, const char *addr)
{
	struct redis_batch	 b;
	struct redis_key	 pair, account, source;
	const struct redis_key	*by_user[1] = { &account };
	const struct redis_key	*by_source[1] = { &source };
	const char		*src = source_of(a, addr);

	/* A right password clears what failed from this address, and gives
	 * back what this attempt took from the wider budgets. */
	key_throttle(&pair, cfg->key_prefix, user, src);
	key_throttle_user(&account, cfg->key_prefix, user);
	key_source_signin(&source, cfg->key_prefix, src);
	redis_batch_init(&b, a, 0);
	redis_del(&b, &pair);
	script_budget_return(&b, by_user, 1);
	script_budget_return(&b, by_source, 1);
	if (redis_run(s, &b) != 0)
		(void)redis_status(s, "sign-in throttle clear");
}

enum shoal_status
throttle_signup(struct redis *s, struct arena *a, const struct config *cfg,
    const char *addr, int64_t *retry_after)
{
	struct redis_batch	 b;
	struct redis_key	 source;
	const struct redis_key	*by_source[1] = { &source };
	size_t			 i;

	*retry_after = 0;
	key_source_signup(&source, cfg->key_prefix, source_of(a, addr));
	redis_batch_init(&b, a, 0);
	i = script_budget_take(&b, by_source, &cfg->signup_max, 1,
	    cfg->signup_window);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "sign-up throttle");
	if (b.reply[i].type != REDIS_VALUE_INT)
		return redis_bad_reply(s, "sign-up throttle", "not a number");
	if ((*retry_after = throttle_wait(&b.reply[i])) == 0)
		return SHOAL_OK;
	log_event("warn", "sign-up throttled: too many from one address");
	return SHOAL_THROTTLED;
}

size_t
throttle_guest_take(struct redis_batch *b, struct arena *a,
    const struct config *cfg, const char *addr)
{
	struct redis_key	*source = arena_alloc(a, sizeof *source);
	const struct redis_key	*by_source[1] = { source };

	key_source_guest(source, cfg->key_prefix, source_of(a, addr));
	return script_budget_take(b, by_source, &cfg->guest_rate, 1, 60);
}
