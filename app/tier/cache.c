/*
 * cache.c - cache-aside in Redis for an app's reads (shoal_db_cached,
 * shoal_cache_forget in shoal.h; docs/data.md).
 *
 *	PREFIX c:KEY		the rows of KEY (dbapi.c's encoding), with a TTL
 *	PREFIX c:KEY:lock	held by the one request loading KEY, CACHE_LOCK_MS
 *
 * A miss takes the lock with SET NX PX: whoever gets it reads the
 * database and fills the entry; the others poll the entry for up to
 * CACHE_WAIT_MS and read the database themselves only when it never
 * comes (the loader died or is slow). So N concurrent misses cost one
 * read. The cache is an optimisation: when Redis does not answer, reads
 * go to the database.
 */
#include <string.h>
#include <time.h>

#include "arena.h"
#include "config.h"
#include "dbapi.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "request.h"

#define CACHE_KEY_MAX	64
#define CACHE_TTL_MAX	86400
#define CACHE_LOCK_MS	3000
#define CACHE_WAIT_MS	1000
#define CACHE_POLL_MS	10

static int
key_valid(const char *key)
{
	size_t	 i, n;

	if (key == NULL || (n = strlen(key)) == 0 || n > CACHE_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (key[i] <= 0x20 || key[i] >= 0x7f)
			return 0;
	return 1;
}

static void
cache_key(struct redis_key *k, const struct shoal_req *r, const char *key,
    int lock)
{
	snprintf(k->s, sizeof k->s, "%sc:%s%s", r->t->cfg->key_prefix, key,
	    lock ? ":lock" : "");
}

/* The cached rows of key: 1 with *out, 0 for none, -1 when Redis fails. */
/* 1 with the rows of the entry Redis answered v, 0 when it is none. */
static int
entry(struct shoal_req *r, const struct redis_value *v,
    struct shoal_rows **out)
{
	if (v->type != REDIS_VALUE_STRING)
		return 0;
	*out = dbapi_rows_decode(&r->t->arena, (unsigned char *)v->str,
	    v->len);
	if (*out == NULL) {
		log_event("warn", "cache entry does not decode: treated as a "
		    "miss");
		return 0;
	}
	return 1;
}

static int
lookup(struct shoal_req *r, const struct redis_key *k,
    struct shoal_rows **out)
{
	struct redis_batch	 b;
	size_t			 i;

	redis_batch_init(&b, &r->t->arena, 1);
	i = redis_get(&b, k);
	if (redis_run(r->t->redis, &b) != 0) {
		(void)redis_status(r->t->redis, "cache read");
		return -1;
	}
	return entry(r, &b.reply[i], out);
}

static void
unlock(struct shoal_req *r, const struct redis_key *lk)
{
	struct redis_batch	 b;

	redis_batch_init(&b, &r->t->arena, 1);
	redis_del(&b, lk);
	if (redis_run(r->t->redis, &b) != 0)
		(void)redis_status(r->t->redis, "cache unlock");
}

static void
pause_ms(int ms)
{
	struct timespec	 ts = { 0, (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

enum shoal_status
shoal_db_cached(struct shoal_req *r, const char *key, int ttl_s,
    const char *sql, int nparams, const char *const *params,
    struct shoal_rows **out)
{
	struct redis_key	 k, lk;
	struct redis_batch	 b;
	unsigned char		*bytes;
	enum shoal_status	 st;
	size_t			 len, got, again, waited;
	int			 found, locked = 0;

	*out = NULL;
	if (!key_valid(key) || ttl_s < 1 || ttl_s > CACHE_TTL_MAX) {
		log_event("error", "shoal_db_cached: a key of 1-%d printable "
		    "bytes and a TTL of 1-%d s, please", CACHE_KEY_MAX,
		    CACHE_TTL_MAX);
		return SHOAL_INTERNAL;
	}
	cache_key(&k, r, key, 0);
	cache_key(&lk, r, key, 1);
	if ((found = lookup(r, &k, out)) == 1) {
		metrics_count(METRIC_CACHE_HITS);
		return SHOAL_OK;
	}
	if (found == 0) {
		/*
		 * The lock, and the entry read again after it in the same
		 * round trip: a loader fills the entry before it drops the
		 * lock, so a lock got here after another request's load
		 * finds that load's rows instead of reading them again.
		 */
		redis_batch_init(&b, &r->t->arena, 0);
		got = redis_set(&b, &lk, "1", 1, REDIS_SET_IF_NEW,
		    CACHE_LOCK_MS);
		again = redis_get(&b, &k);
		if (redis_run(r->t->redis, &b) != 0)
			(void)redis_status(r->t->redis, "cache lock");
		else if (b.reply[got].type == REDIS_VALUE_STRING) {
			locked = 1;
			if (entry(r, &b.reply[again], out) == 1) {
				metrics_count(METRIC_CACHE_HITS);
				unlock(r, &lk);
				return SHOAL_OK;
			}
		} else {
			/* Another request is loading it: wait for its rows. */
			for (waited = 0; waited < CACHE_WAIT_MS;
			    waited += CACHE_POLL_MS) {
				pause_ms(CACHE_POLL_MS);
				if ((found = lookup(r, &k, out)) != 0)
					break;
			}
			if (found == 1) {
				metrics_count(METRIC_CACHE_HITS);
				return SHOAL_OK;
			}
		}
	}
	log_event("info", "cache miss: %s read from the database", key);
	metrics_count(METRIC_CACHE_MISSES);
	if ((st = shoal_db_read(r, sql, nparams, params, out)) != SHOAL_OK) {
		if (locked)
			unlock(r, &lk);
		return st;
	}
	if (found == -1)
		return SHOAL_OK;
	bytes = dbapi_rows_encode(&r->t->arena, *out, &len);
	redis_batch_init(&b, &r->t->arena, 1);
	if (len <= DBAPI_ROWS_MAX_BYTES)
		redis_set(&b, &k, bytes, len, REDIS_SET_ALWAYS,
		    (int64_t)ttl_s * 1000);
	if (locked)
		redis_del(&b, &lk);
	if (b.n > 0 && redis_run(r->t->redis, &b) != 0)
		(void)redis_status(r->t->redis, "cache fill");
	return SHOAL_OK;
}

enum shoal_status
shoal_cache_forget(struct shoal_req *r, const char *key)
{
	struct redis_key	 k;
	struct redis_batch	 b;

	if (!key_valid(key)) {
		log_event("error", "shoal_cache_forget: a key of 1-%d "
		    "printable bytes, please", CACHE_KEY_MAX);
		return SHOAL_INTERNAL;
	}
	cache_key(&k, r, key, 0);
	redis_batch_init(&b, &r->t->arena, 1);
	redis_del(&b, &k);
	if (redis_run(r->t->redis, &b) != 0)
		return redis_status(r->t->redis, "cache forget");
	return SHOAL_OK;
}
