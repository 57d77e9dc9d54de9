/*
 * scripts.h - the Lua scripts shoal runs in Redis, and a typed call for
 * each. The sources are app/tier/lua/NAME.lua, embedded at build time
 * (tools/embed); each file starts with its contract: keys, arguments,
 * reply. redis.c loads them at connect and sends them by SHA.
 */
#ifndef SCRIPTS_H
#define SCRIPTS_H

#include <stddef.h>
#include <stdint.h>

struct redis_key;
struct redis_batch;

enum script_id {
	SCRIPT_SESSION_CAS,
	SCRIPT_INDEX_ADD,
	SCRIPT_INDEX_REMOVE,
	SCRIPT_INDEX_LIST,
	SCRIPT_BUDGET_TAKE,
	SCRIPT_BUDGET_RETURN,
	SCRIPT_GUEST_CLAIM,
	NSCRIPTS
};

struct script_source {
	const char	*name;
	const char	*text;
	size_t		 len;
};

/* Generated into build/gen/lua.c from the lua folder, ended by NULL. */
extern const struct script_source script_sources[];

/* The source of a script; a script missing from the build aborts. */
const struct script_source *script_source(int id);

/* Each adds one script call to the batch and returns its reply's index. */
size_t	script_session_cas(struct redis_batch *, const struct redis_key *,
	    const void *old, size_t oldlen, const void *new, size_t newlen,
	    int64_t ttl_ms);
size_t	script_guest_claim(struct redis_batch *, const struct redis_key *,
	    const void *seen, size_t seenlen);
size_t	script_index_add(struct redis_batch *, const struct redis_key *index,
	    const struct redis_key *meta, const struct redis_key *generation,
	    int64_t now_ms, const char *hash, int64_t expires_ms,
	    const char *meta_text, int64_t keep_ms, int max_sessions,
	    int64_t expected_generation);
size_t	script_index_remove(struct redis_batch *, const struct redis_key *index,
	    const struct redis_key *meta, const char *const *hashes, size_t n);
size_t	script_index_list(struct redis_batch *, const struct redis_key *index,
	    const struct redis_key *meta, int64_t now_ms);

/* Counters of one hash tag, each with its budget (n at most 4). */
size_t	script_budget_take(struct redis_batch *,
	    const struct redis_key *const *counters, const long *budgets,
	    size_t n, long window_s);
size_t	script_budget_return(struct redis_batch *,
	    const struct redis_key *const *counters, size_t n);

#endif
