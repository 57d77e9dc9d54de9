/*
 * scripts.c - typed calls of the Lua scripts (see scripts.h and lua/).
 */
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "redis.h"
#include "scripts.h"

static const char *const script_names[NSCRIPTS] = {
	[SCRIPT_SESSION_CAS] = "session_cas",
	[SCRIPT_INDEX_ADD] = "index_add",
	[SCRIPT_INDEX_REMOVE] = "index_remove",
	[SCRIPT_INDEX_LIST] = "index_list",
	[SCRIPT_BUDGET_TAKE] = "budget_take",
	[SCRIPT_BUDGET_RETURN] = "budget_return",
	[SCRIPT_GUEST_CLAIM] = "guest_claim",
};

const struct script_source *
script_source(int id)
{
	const struct script_source *s;

	if (id >= 0 && id < NSCRIPTS)
		for (s = script_sources; s->name != NULL; s++)
			if (strcmp(s->name, script_names[id]) == 0)
				return s;
	log_event("error", "no Lua script number %d in this build", id);
	abort();
}

static void
key_arg(struct redis_batch *b, size_t i, int n, const struct redis_key *k)
{
	redis_arg(b, i, n, k->s, strlen(k->s));
}

static void
str_arg(struct redis_batch *b, size_t i, int n, const char *s)
{
	redis_arg(b, i, n, s, strlen(s));
}

size_t
script_session_cas(struct redis_batch *b, const struct redis_key *k,
    const void *old, size_t oldlen, const void *new, size_t newlen,
    int64_t ttl_ms)
{
	size_t	 i = redis_batch_add(b, SCRIPT_SESSION_CAS, 1, 4);

	key_arg(b, i, 0, k);
	redis_arg(b, i, 1, old, oldlen);
	redis_arg(b, i, 2, new, newlen);
	redis_arg_int(b, i, 3, ttl_ms);
	return i;
}

size_t
script_guest_claim(struct redis_batch *b, const struct redis_key *k,
    const void *seen, size_t seenlen)
{
	size_t	 i = redis_batch_add(b, SCRIPT_GUEST_CLAIM, 1, 2);

	key_arg(b, i, 0, k);
	redis_arg(b, i, 1, seen, seenlen);
	return i;
}

size_t
script_index_add(struct redis_batch *b, const struct redis_key *index,
    const struct redis_key *meta, const struct redis_key *generation,
    int64_t now_ms, const char *hash, int64_t expires_ms,
    const char *meta_text, int64_t keep_ms, int max_sessions,
    int64_t expected_generation)
{
	size_t	 i = redis_batch_add(b, SCRIPT_INDEX_ADD, 3, 10);

	key_arg(b, i, 0, index);
	key_arg(b, i, 1, meta);
	key_arg(b, i, 2, generation);
	redis_arg_int(b, i, 3, now_ms);
	str_arg(b, i, 4, hash);
	redis_arg_int(b, i, 5, expires_ms);
	str_arg(b, i, 6, meta_text);
	redis_arg_int(b, i, 7, keep_ms);
	redis_arg_int(b, i, 8, max_sessions);
	redis_arg_int(b, i, 9, expected_generation);
	return i;
}

size_t
script_index_remove(struct redis_batch *b, const struct redis_key *index,
    const struct redis_key *meta, const char *const *hashes, size_t n)
{
	size_t	 i = redis_batch_add(b, SCRIPT_INDEX_REMOVE, 2, 2 + (int)n), j;

	key_arg(b, i, 0, index);
	key_arg(b, i, 1, meta);
	for (j = 0; j < n; j++)
		str_arg(b, i, 2 + (int)j, hashes[j]);
	return i;
}

size_t
script_index_list(struct redis_batch *b, const struct redis_key *index,
    const struct redis_key *meta, int64_t now_ms)
{
	size_t	 i = redis_batch_add(b, SCRIPT_INDEX_LIST, 2, 3);

	key_arg(b, i, 0, index);
	key_arg(b, i, 1, meta);
	redis_arg_int(b, i, 2, now_ms);
	return i;
}

size_t
script_budget_take(struct redis_batch *b,
    const struct redis_key *const *counters, const long *budgets, size_t n,
    long window_s)
{
	size_t	 i = redis_batch_add(b, SCRIPT_BUDGET_TAKE, (int)n,
	    (int)(2 * n + 1)), j;

	for (j = 0; j < n; j++) {
		key_arg(b, i, (int)j, counters[j]);
		redis_arg_int(b, i, (int)(n + 1 + j), budgets[j]);
	}
	redis_arg_int(b, i, (int)n, window_s);
	return i;
}

size_t
script_budget_return(struct redis_batch *b,
    const struct redis_key *const *counters, size_t n)
{
	size_t	 i = redis_batch_add(b, SCRIPT_BUDGET_RETURN, (int)n, (int)n), j;

	for (j = 0; j < n; j++)
		key_arg(b, i, (int)j, counters[j]);
	return i;
}
