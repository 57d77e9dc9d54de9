/*
 * index.c - each user's list of sessions (see index.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "config.h"
#include "index.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "scripts.h"
#include "session.h"
#include "sid.h"

/* The two keys of a user's index. */
struct index_keys {
	struct redis_key	 list;
	struct redis_key	 meta;
};

static void
keys_for(struct index_keys *k, const char *prefix, const char *user)
{
	key_index(&k->list, prefix, user);
	key_index_meta(&k->meta, prefix, user);
}

/* The user agent as kept: at most INDEX_UA_MAX bytes, no control bytes. */
static char *
clean_agent(struct arena *a, const char *ua)
{
	size_t	 n, i;
	char	*out;

	if (ua == NULL)
		ua = "";
	n = strnlen(ua, INDEX_UA_MAX);
	out = arena_strndup(a, ua, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return out;
}

/* As long as the longest-lived session could: the list's own lifetime. */
static int64_t
index_lifetime_ms(const struct config *cfg)
{
	long	 max = cfg->session_max > cfg->remember_max ?
		    cfg->session_max : cfg->remember_max;

	return (int64_t)max * 1000;
}

/*
 * What follows the creation time in an entry's meta: "\tKIND\tUSER AGENT"
 * with KIND "u" or "r" (remembered), or "\tUSER AGENT" as written before
 * sessions had kinds. A user agent never holds a tab (clean_agent).
 */
static void
parse_meta(struct shoal_session_info *info, const char *rest)
{
	info->user_agent = "";
	info->remembered = 0;
	if (*rest != '\t')
		return;
	rest++;
	if ((rest[0] == 'u' || rest[0] == 'r') && rest[1] == '\t') {
		info->remembered = rest[0] == 'r';
		rest += 2;
	}
	info->user_agent = rest;
}

/* Adds a DEL of each hash's record to the batch. */
static void
delete_records(struct redis_batch *b, const char *prefix,
    const char *const *hashes, size_t n)
{
	struct redis_key	*k;
	size_t		 i;

	for (i = 0; i < n; i++) {
		k = arena_alloc(b->arena, sizeof *k);
		key_session(k, prefix, hashes[i]);
		redis_del(b, k);
	}
}

/* 0 when v is an array of strings. */
static int
string_array(const struct redis_value *v)
{
	size_t	 i;

	if (v->type != REDIS_VALUE_ARRAY)
		return -1;
	for (i = 0; i < v->n; i++)
		if (v->elem[i].type != REDIS_VALUE_STRING)
			return -1;
	return 0;
}

/* Ends the sessions the index dropped: over its cap, or issued under an
 * older credential generation (lua/index_add.lua). */
static enum shoal_status
end_evicted(struct redis *s, struct arena *a, const struct config *cfg,
    const struct redis_value *evicted)
{
	struct redis_batch	 b;
	const char		**hashes;
	size_t			 i;

	hashes = arena_calloc(a, evicted->n, sizeof *hashes);
	for (i = 0; i < evicted->n; i++) {
		if (evicted->elem[i].len != SID_HASH_LEN)
			return redis_bad_reply(s, "session create",
			    "index_add evicted a bad hash");
		hashes[i] = evicted->elem[i].str;
	}
	log_event("info", "session create ended %zu other sessions (over "
	    "the cap of %d, or of an older credential generation)",
	    evicted->n, INDEX_MAX_SESSIONS);
	redis_batch_init(&b, a, 1);
	delete_records(&b, cfg->key_prefix, hashes, evicted->n);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "evicted sessions delete");
	return SHOAL_OK;
}

/*
 * The password changed between its check and now: the record written in
 * the same round trip goes again, and there is no session.
 */
static enum shoal_status
refused(struct redis *s, struct arena *a, const struct redis_key *record)
{
	struct redis_batch	 b;

	log_event("info", "sign-in refused: the password changed meanwhile");
	redis_batch_init(&b, a, 1);
	redis_del(&b, record);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "refused session delete");
	return SHOAL_BAD_PASSWORD;
}

enum shoal_status
index_create(struct redis *s, struct arena *a, const struct config *cfg,
    const char *user, const struct sid *sid, const void *record, size_t len,
    int64_t ttl_ms, int64_t expires_s, const char *user_agent,
    int remembered, int64_t generation)
{
	struct index_keys	 k;
	struct redis_batch	 b;
	struct redis_key	 key, gen;
	char			 hash[SID_HASH_LEN + 1];
	const char		*meta;
	size_t			 set, add;

	if (sid_hash(sid, hash, sizeof hash) != 0)
		return SHOAL_INTERNAL;
	keys_for(&k, cfg->key_prefix, user);
	key_session(&key, cfg->key_prefix, hash);
	key_user_generation(&gen, cfg->key_prefix, user);
	meta = arena_printf(a, "%lld\t%s\t%s", (long long)time(NULL),
	    remembered ? "r" : "u", clean_agent(a, user_agent));

	redis_batch_init(&b, a, 0);
	set = redis_set(&b, &key, record, len, REDIS_SET_IF_NEW, ttl_ms);
	/* The list lives as long as its longest-lived session could. */
	add = script_index_add(&b, &k.list, &k.meta, &gen, session_now_ms(), hash,
	    expires_s * 1000, meta, index_lifetime_ms(cfg),
	    INDEX_MAX_SESSIONS, generation);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "session create");
	if (b.reply[set].type != REDIS_VALUE_STRING)
		/* 256 random bits collided: never seen, never expected. */
		return redis_bad_reply(s, "session create",
		    "new session ID already in use");
	if (b.reply[add].type == REDIS_VALUE_NIL)
		return refused(s, a, &key);
	if (string_array(&b.reply[add]) != 0)
		return redis_bad_reply(s, "session create",
		    "index_add did not return hashes");
	if (b.reply[add].n == 0)
		return SHOAL_OK;
	return end_evicted(s, a, cfg, &b.reply[add]);
}

enum shoal_status
index_remove(struct redis *s, struct arena *a, const struct config *cfg,
    const char *user, const char *hash)
{
	struct index_keys	 k;
	struct redis_batch	 b;

	keys_for(&k, cfg->key_prefix, user);
	redis_batch_init(&b, a, 1);
	delete_records(&b, cfg->key_prefix, &hash, 1);
	script_index_remove(&b, &k.list, &k.meta, &hash, 1);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "session end");
	return SHOAL_OK;
}

/* Removes dead hashes from the index, INDEX_FORGET_BATCH per round trip. */
static enum shoal_status
forget(struct redis *s, struct arena *a, const struct index_keys *k,
    const char *const *hashes, size_t n)
{
	struct redis_batch	 b;
	size_t			 i, batch;

	for (i = 0; i < n; i += batch) {
		batch = n - i < INDEX_FORGET_BATCH ? n - i : INDEX_FORGET_BATCH;
		redis_batch_init(&b, a, 1);
		script_index_remove(&b, &k->list, &k->meta, hashes + i, batch);
		if (redis_run(s, &b) != 0)
			return redis_status(s, "session index prune");
	}
	return SHOAL_OK;
}

enum shoal_status
index_list(struct redis *s, struct arena *a, const struct config *cfg,
    const char *user, struct shoal_session_info **list, size_t *n)
{
	struct index_keys	 k;
	struct redis_batch	 b, ttls;
	const struct redis_value *out, *ttl;
	struct shoal_session_info *info;
	struct redis_key		*key;
	const char		**dead;
	char			*tab;
	enum shoal_status	 st;
	size_t			 m, i, live = 0, ndead = 0;
	int64_t			 now = session_now_ms(), idle;

	*list = NULL;
	*n = 0;
	keys_for(&k, cfg->key_prefix, user);
	redis_batch_init(&b, a, 1);
	script_index_list(&b, &k.list, &k.meta, now);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "session list");
	out = &b.reply[0];
	if (string_array(out) != 0 || out->n % 2 != 0)
		return redis_bad_reply(s, "session list",
		    "index_list did not return pairs");
	m = out->n / 2;
	if (m == 0)
		return SHOAL_OK;

	/* Which are still alive, and since when idle: one PTTL each. */
	redis_batch_init(&ttls, a, 1);
	for (i = 0; i < m; i++) {
		if (out->elem[2 * i].len != SID_HASH_LEN)
			return redis_bad_reply(s, "session list",
			    "not a session hash");
		key = arena_alloc(a, sizeof *key);
		key_session(key, cfg->key_prefix, out->elem[2 * i].str);
		redis_pttl(&ttls, key);
	}
	if (redis_run(s, &ttls) != 0)
		return redis_status(s, "session list");

	info = arena_calloc(a, m, sizeof *info);
	dead = arena_calloc(a, m, sizeof *dead);
	for (i = 0; i < m; i++) {
		ttl = &ttls.reply[i];
		if (ttl->type != REDIS_VALUE_INT || ttl->integer < 0) {
			dead[ndead++] = out->elem[2 * i].str;
			continue;
		}
		info[live].id = out->elem[2 * i].str;
		info[live].created = strtoll(out->elem[2 * i + 1].str, &tab,
		    10);
		parse_meta(&info[live], tab);
		idle = (info[live].remembered ? cfg->remember_idle :
		    cfg->session_idle) * 1000;
		/* The TTL was last pushed back to the idle window when the
		 * session was last seen (to within the refresh step). */
		info[live].last_seen = (now - (idle - ttl->integer)) / 1000;
		if (info[live].last_seen < info[live].created)
			info[live].last_seen = info[live].created;
		live++;
	}
	if (ndead > 0 && (st = forget(s, a, &k, dead, ndead)) != SHOAL_OK)
		return st;
	*list = info;
	*n = live;
	return SHOAL_OK;
}

enum shoal_status
index_revoke(struct redis *s, struct arena *a, const struct config *cfg,
    const char *user, const char *hash, const char *all_but, size_t *ended)
{
	struct index_keys	 k;
	struct shoal_session_info *list;
	struct redis_batch	 b;
	enum shoal_status	 st;
	const char		**victims;
	size_t			 n, i, nv = 0;

	*ended = 0;
	keys_for(&k, cfg->key_prefix, user);
	if ((st = index_list(s, a, cfg, user, &list, &n)) != SHOAL_OK)
		return st;
	victims = arena_calloc(a, n ? n : 1, sizeof *victims);
	for (i = 0; i < n; i++) {
		if (all_but != NULL ? strcmp(list[i].id, all_but) != 0 :
		    strcmp(list[i].id, hash) == 0)
			victims[nv++] = list[i].id;
	}
	if (nv == 0)
		return SHOAL_OK;
	redis_batch_init(&b, a, 1);
	delete_records(&b, cfg->key_prefix, victims, nv);
	if (redis_run(s, &b) != 0)
		return redis_status(s, "session revoke");
	if ((st = forget(s, a, &k, victims, nv)) != SHOAL_OK)
		return st;
	*ended = nv;
	return SHOAL_OK;
}
