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
#include "log.h"
#include "sid.h"
#include "store.h"

struct index_keys {
	char	 list[160];
	char	 meta[160];
};

static int
keys_for(struct index_keys *k, const char *prefix, const char *user)
{
	int	 a = snprintf(k->list, sizeof k->list, "%su:{%s}:sessions",
	    prefix, user);
	int	 b = snprintf(k->meta, sizeof k->meta, "%su:{%s}:meta", prefix,
	    user);

	return (a < 0 || b < 0 || (size_t)a >= sizeof k->list ||
	    (size_t)b >= sizeof k->meta) ? -1 : 0;
}

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* Deletes the records of hashes (one round trip, nothing if n is 0). */
static enum shoal_status
delete_records(struct store *s, struct arena *a, const char *prefix,
    const char *const *hashes, size_t n)
{
	struct store_cmd	*cmds;
	struct store_reply	*out;
	char			*key;
	size_t			 i;

	if (n == 0)
		return SHOAL_OK;
	cmds = arena_calloc(a, n, sizeof *cmds);
	out = arena_calloc(a, n, sizeof *out);
	for (i = 0; i < n; i++) {
		key = arena_alloc(a, SID_KEY_MAX);
		if (sid_hash_key(hashes[i], prefix, key, SID_KEY_MAX) != 0)
			return SHOAL_UNAVAILABLE;
		store_cmd_set(&cmds[i], -1, 0, 2, "DEL", key);
	}
	return store_pipeline(s, a, n, cmds, out) == STORE_OK ? SHOAL_OK :
	    SHOAL_UNAVAILABLE;
}

enum shoal_status
index_create(struct store *s, struct arena *a, const struct config *cfg,
    const char *user, const struct sid *sid, const void *record, size_t len,
    int64_t ttl_ms, int64_t expires_s, const char *user_agent)
{
	struct index_keys	 k;
	struct store_cmd	 cmds[2];
	struct store_reply	 out[2];
	char			 hash[SID_HASH_LEN + 1], key[SID_KEY_MAX];
	char			*ttl, *now, *exp, *meta, *keep, *cap;
	const char		**evicted;
	size_t			 i;

	if (keys_for(&k, cfg->key_prefix, user) != 0 ||
	    sid_hash(sid, hash, sizeof hash) != 0 ||
	    sid_hash_key(hash, cfg->key_prefix, key, sizeof key) != 0)
		return SHOAL_UNAVAILABLE;
	ttl = arena_printf(a, "%lld", (long long)ttl_ms);
	now = arena_printf(a, "%lld", (long long)now_ms());
	exp = arena_printf(a, "%lld", (long long)expires_s * 1000);
	meta = arena_printf(a, "%lld\t%s", (long long)time(NULL),
	    clean_agent(a, user_agent));
	/* The list lives as long as its longest-lived session could. */
	keep = arena_printf(a, "%lld", (long long)cfg->session_max * 1000);
	cap = arena_printf(a, "%d", INDEX_MAX_SESSIONS);

	store_cmd_set(&cmds[0], -1, 0, 6, "SET", key, "", "NX", "PX", ttl);
	cmds[0].argv[2] = record;
	cmds[0].argl[2] = len;
	store_cmd_set(&cmds[1], STORE_SCRIPT_INDEX_ADD, 2, 8, k.list, k.meta,
	    now, hash, exp, meta, keep, cap);
	if (store_pipeline(s, a, 2, cmds, out) != STORE_OK)
		return SHOAL_UNAVAILABLE;
	if (out[0].type != STORE_REPLY_STRING) {	/* 256 random bits collided */
		log_event("error", "new session ID already in use");
		return SHOAL_UNAVAILABLE;
	}
	if (out[1].type != STORE_REPLY_ARRAY || out[1].n == 0)
		return SHOAL_OK;
	evicted = arena_calloc(a, out[1].n, sizeof *evicted);
	for (i = 0; i < out[1].n; i++)
		evicted[i] = out[1].elem[i].str ? out[1].elem[i].str : "";
	log_event("info", "user has more than %d sessions: ended %zu oldest",
	    INDEX_MAX_SESSIONS, out[1].n);
	return delete_records(s, a, cfg->key_prefix, evicted, out[1].n);
}

enum shoal_status
index_remove(struct store *s, struct arena *a, const struct config *cfg,
    const char *user, const char *hash)
{
	struct index_keys	 k;
	struct store_cmd	 cmds[2];
	struct store_reply	 out[2];
	char			 key[SID_KEY_MAX];

	if (keys_for(&k, cfg->key_prefix, user) != 0 ||
	    sid_hash_key(hash, cfg->key_prefix, key, sizeof key) != 0)
		return SHOAL_UNAVAILABLE;
	store_cmd_set(&cmds[0], -1, 0, 2, "DEL", key);
	store_cmd_set(&cmds[1], STORE_SCRIPT_INDEX_REMOVE, 2, 3, k.list, k.meta,
	    hash);
	return store_pipeline(s, a, 2, cmds, out) == STORE_OK ? SHOAL_OK :
	    SHOAL_UNAVAILABLE;
}

/* Removes dead hashes from the index (one round trip). */
static enum shoal_status
forget(struct store *s, struct arena *a, const struct index_keys *k,
    const char *const *hashes, size_t n)
{
	struct store_cmd	 cmd;
	struct store_reply	 out;
	size_t			 i, batch;

	/* A command takes STORE_MAX_ARGS arguments: two keys, then hashes. */
	for (i = 0; i < n; i += batch) {
		batch = n - i < STORE_MAX_ARGS - 2 ? n - i : STORE_MAX_ARGS - 2;
		memset(&cmd, 0, sizeof cmd);
		cmd.script = STORE_SCRIPT_INDEX_REMOVE;
		cmd.nkeys = 2;
		cmd.argc = 2 + (int)batch;
		cmd.argv[0] = k->list, cmd.argl[0] = strlen(k->list);
		cmd.argv[1] = k->meta, cmd.argl[1] = strlen(k->meta);
		for (size_t j = 0; j < batch; j++) {
			cmd.argv[2 + j] = hashes[i + j];
			cmd.argl[2 + j] = strlen(hashes[i + j]);
		}
		if (store_pipeline(s, a, 1, &cmd, &out) != STORE_OK)
			return SHOAL_UNAVAILABLE;
	}
	return SHOAL_OK;
}

enum shoal_status
index_list(struct store *s, struct arena *a, const struct config *cfg,
    const char *user, struct shoal_session_info **list, size_t *n)
{
	struct index_keys	 k;
	struct store_cmd	 cmd, *ttl_cmds;
	struct store_reply	 out, *ttls;
	struct shoal_session_info *info;
	const char		**dead;
	char			*key, *tab;
	size_t			 m, i, live = 0, ndead = 0;
	int64_t			 now = now_ms(), idle = cfg->session_idle * 1000;

	*list = NULL;
	*n = 0;
	if (keys_for(&k, cfg->key_prefix, user) != 0)
		return SHOAL_UNAVAILABLE;
	store_cmd_set(&cmd, STORE_SCRIPT_INDEX_LIST, 2, 3, k.list, k.meta,
	    arena_printf(a, "%lld", (long long)now));
	if (store_pipeline(s, a, 1, &cmd, &out) != STORE_OK)
		return SHOAL_UNAVAILABLE;
	if (out.type != STORE_REPLY_ARRAY || out.n % 2 != 0)
		return SHOAL_UNAVAILABLE;
	m = out.n / 2;
	if (m == 0)
		return SHOAL_OK;

	/* Which are still alive, and since when idle: one PTTL each. */
	ttl_cmds = arena_calloc(a, m, sizeof *ttl_cmds);
	ttls = arena_calloc(a, m, sizeof *ttls);
	for (i = 0; i < m; i++) {
		key = arena_alloc(a, SID_KEY_MAX);
		if (sid_hash_key(out.elem[2 * i].str, cfg->key_prefix, key,
		    SID_KEY_MAX) != 0)
			return SHOAL_UNAVAILABLE;
		store_cmd_set(&ttl_cmds[i], -1, 0, 2, "PTTL", key);
	}
	if (store_pipeline(s, a, m, ttl_cmds, ttls) != STORE_OK)
		return SHOAL_UNAVAILABLE;

	info = arena_calloc(a, m, sizeof *info);
	dead = arena_calloc(a, m, sizeof *dead);
	for (i = 0; i < m; i++) {
		if (ttls[i].type != STORE_REPLY_INT || ttls[i].integer < 0) {
			dead[ndead++] = out.elem[2 * i].str;
			continue;
		}
		info[live].id = out.elem[2 * i].str;
		info[live].created = strtoll(out.elem[2 * i + 1].str, &tab, 10);
		info[live].user_agent = *tab == '\t' ? tab + 1 : "";
		/* The TTL was last pushed back to the idle window when the
		 * session was last seen (to within the refresh step). */
		info[live].last_seen = (now - (idle - ttls[i].integer)) / 1000;
		if (info[live].last_seen < info[live].created)
			info[live].last_seen = info[live].created;
		live++;
	}
	if (ndead > 0 && forget(s, a, &k, dead, ndead) != SHOAL_OK)
		return SHOAL_UNAVAILABLE;
	*list = info;
	*n = live;
	return SHOAL_OK;
}

enum shoal_status
index_revoke(struct store *s, struct arena *a, const struct config *cfg,
    const char *user, const char *hash, const char *all_but, size_t *ended)
{
	struct index_keys	 k;
	struct shoal_session_info *list;
	enum shoal_status	 st;
	const char		**victims;
	size_t			 n, i, nv = 0;

	*ended = 0;
	if (keys_for(&k, cfg->key_prefix, user) != 0)
		return SHOAL_UNAVAILABLE;
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
	if ((st = delete_records(s, a, cfg->key_prefix, victims, nv)) !=
	    SHOAL_OK)
		return st;
	if ((st = forget(s, a, &k, victims, nv)) != SHOAL_OK)
		return st;
	*ended = nv;
	return SHOAL_OK;
}
