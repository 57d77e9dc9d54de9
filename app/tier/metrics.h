/*
 * metrics.h - the worker's counters, and their Prometheus text.
 *
 * Every serving thread owns one block of counters (struct metrics_block) in
 * its process's scoreboard file (scoreboard.h). Only that thread writes it,
 * with a relaxed atomic load and store: no lock and no read-modify-write on
 * the request path, and a scraper in another process reads whole 64-bit
 * values. A thread finds its block through metrics_self, set once when it
 * starts; everywhere else (the main thread, the command-line tools)
 * metrics_self is NULL and every hook does nothing.
 *
 * Hooks are one call each at the place the event happens (worker.c,
 * redis.c, db.c, session.c, signin.c, pwhash.c, cache.c). docs/metrics.md
 * lists every metric and what it means.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

struct buf;

/* Counters and per-thread gauges; each rendered as in metrics.c. */
enum metrics_counter {
	METRIC_THREAD_BUSY,		/* gauge: 1 while handling a request */
	METRIC_BUSY_NS,
	METRIC_CONN_ACCEPTED,
	METRIC_CONN_KEPT_ALIVE,		/* gauge */
	METRIC_REDIS_ROUND_TRIPS,
	METRIC_REDIS_WRITES,
	METRIC_REDIS_ERRORS,
	METRIC_DB_PRIMARY,
	METRIC_DB_REPLICA,
	METRIC_DB_ERRORS,
	METRIC_CAS_CONFLICTS,
	METRIC_CAS_GIVE_UPS,
	METRIC_SESSIONS_CREATED,
	METRIC_SESSIONS_ENDED,
	METRIC_SESSIONS_EXPIRED,
	METRIC_SESSIONS_LOADED_AHEAD,
	METRIC_GUESTS_CREATED,
	METRIC_SIGN_IN_OK,
	METRIC_SIGN_IN_FAILED,
	METRIC_SIGN_IN_THROTTLED,
	METRIC_HASHES,
	METRIC_HASHES_WAITING,		/* gauge */
	METRIC_HASHES_REFUSED,
	METRIC_CACHE_HITS,
	METRIC_CACHE_MISSES,
	METRICS_NCOUNTERS
};

enum metrics_histogram {
	METRIC_H_REQUEST,
	METRIC_H_REDIS,
	METRIC_H_DB,
	METRICS_NHISTOGRAMS
};

/* Bucket upper bounds in seconds, then +Inf. */
#define METRICS_NBUCKETS	13

/*
 * Route slots: what shoal_requests_total's route label says. The tier's
 * own pages first, then the app's route table in its order.
 */
#define METRICS_ROUTE_UNMATCHED		0
#define METRICS_ROUTE_HEALTHZ		1
#define METRICS_ROUTE_READYZ		2
#define METRICS_ROUTE_HEALTHZ_DB	3
#define METRICS_ROUTE_APP		4	/* + index in the table */

#define METRICS_NMETHODS	4	/* GET, HEAD, POST, other */
#define METRICS_NSTATUS		26	/* the table in metrics.c + other */

struct metrics_histo {
	_Atomic uint64_t	 bucket[METRICS_NBUCKETS];	/* not cumulative */
	_Atomic uint64_t	 sum_ns;
};

struct metrics_block {
	_Atomic uint64_t	 c[METRICS_NCOUNTERS];
	struct metrics_histo	 h[METRICS_NHISTOGRAMS];
	/* [slot][method][status], METRICS_NMETHODS * METRICS_NSTATUS per slot */
	_Atomic uint64_t	 requests[];
};

/* The same figures summed over every thread of every live process. */
struct metrics_sum {
	uint64_t	 c[METRICS_NCOUNTERS];
	uint64_t	 bucket[METRICS_NHISTOGRAMS][METRICS_NBUCKETS];
	uint64_t	 sum_ns[METRICS_NHISTOGRAMS];
	uint64_t	*requests;	/* nslots * METHODS * STATUS; owned */
	size_t		 nslots;
	uint64_t	 threads;
	uint64_t	 processes;
};

extern _Thread_local struct metrics_block *metrics_self;

static inline void
metrics_add(enum metrics_counter c, uint64_t n)
{
	struct metrics_block	*b = metrics_self;

	if (b != NULL)
		atomic_store_explicit(&b->c[c], atomic_load_explicit(&b->c[c],
		    memory_order_relaxed) + n, memory_order_relaxed);
}

static inline void
metrics_count(enum metrics_counter c)
{
	metrics_add(c, 1);
}

static inline void
metrics_set(enum metrics_counter c, uint64_t v)
{
	struct metrics_block	*b = metrics_self;

	if (b != NULL)
		atomic_store_explicit(&b->c[c], v, memory_order_relaxed);
}

/* Monotonic nanoseconds, for the start of what is timed. */
int64_t	metrics_clock(void);
/* Adds the time since start (metrics_clock()) to histogram h. */
void	metrics_observe(enum metrics_histogram h, int64_t start);
/* A request answered: its count by route, method and status, its time in
 * the histogram and in the thread's busy time. */
void	metrics_request(int slot, const char *method, int status,
	    int64_t start);
/* A Redis round trip (rc: redis_run's answer) that began at start. */
void	metrics_redis(int rc, int64_t start);
/* A database statement on the replica (or the primary); rc 0: no error. */
void	metrics_db(int replica, int rc, int64_t start);
/* A sign-in's outcome: SHOAL_OK, SHOAL_BAD_PASSWORD or SHOAL_THROTTLED
 * count; anything else (the database down) does not. */
void	metrics_sign_in(enum shoal_status);

/* The bytes of one thread's block for a table of nslots route slots,
 * rounded up to a cache line. */
size_t	metrics_block_size(size_t nslots);
/* Adds block b (nslots slots) to sum. */
void	metrics_sum_add(struct metrics_sum *, const struct metrics_block *b);

/* Route slot names for an app: "unmatched", the tier's pages, then each
 * route's pattern. *n gets the count; the array is the caller's to free
 * (the names are not copies). */
const char **metrics_route_names(const struct shoal_route *, size_t *n);

/*
 * The Prometheus text format (0.0.4) of sum into out: every metric in
 * docs/metrics.md, requests only for the combinations seen. names has
 * sum->nslots entries.
 */
void	metrics_render(struct buf *out, const struct metrics_sum *,
	    const char *const *names, const char *version);

#endif
