/*
 * metrics.c - the counters' hooks and their Prometheus text (see metrics.h).
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "metrics.h"
#include "oom.h"

_Thread_local struct metrics_block *metrics_self;

/* Upper bounds of the duration buckets, in nanoseconds and as labels. */
static const uint64_t bucket_ns[METRICS_NBUCKETS - 1] = {
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,
	250000000, 500000000, 1000000000, 2500000000u, 5000000000u,
};
static const char *const bucket_le[METRICS_NBUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "+Inf",
};

static const char *const method_names[METRICS_NMETHODS] = {
	"GET", "HEAD", "POST", "other",
};

/* The status codes the tier and its apps answer; the rest is "other". */
static const int status_codes[METRICS_NSTATUS - 1] = {
	200, 201, 204, 301, 302, 303, 304, 400, 401, 403, 404, 405, 408, 409,
	410, 413, 414, 415, 422, 429, 431, 500, 502, 503, 504,
};

_Static_assert(sizeof status_codes / sizeof status_codes[0] ==
    METRICS_NSTATUS - 1, "the status table and METRICS_NSTATUS agree");

int64_t
metrics_clock(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
bump(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) +
	    n, memory_order_relaxed);
}

/* Observes ns in h of block b; returns ns. */
static uint64_t
observe(struct metrics_block *b, enum metrics_histogram h, int64_t start)
{
	int64_t		 d = metrics_clock() - start;
	uint64_t	 ns = d > 0 ? (uint64_t)d : 0;
	size_t		 i;

	for (i = 0; i < METRICS_NBUCKETS - 1 && ns > bucket_ns[i]; i++)
		;
	bump(&b->h[h].bucket[i], 1);
	bump(&b->h[h].sum_ns, ns);
	return ns;
}

void
metrics_observe(enum metrics_histogram h, int64_t start)
{
	if (metrics_self != NULL)
		(void)observe(metrics_self, h, start);
}

static size_t
method_index(const char *m)
{
	size_t	 i;

	for (i = 0; i < METRICS_NMETHODS - 1; i++)
		if (strcmp(m, method_names[i]) == 0)
			return i;
	return METRICS_NMETHODS - 1;
}

static size_t
status_index(int status)
{
	size_t	 i;

	for (i = 0; i < METRICS_NSTATUS - 1; i++)
		if (status_codes[i] == status)
			return i;
	return METRICS_NSTATUS - 1;
}

void
metrics_request(int slot, const char *method, int status, int64_t start)
{
	struct metrics_block	*b = metrics_self;
	size_t			 i;

	if (b == NULL || slot < 0)
		return;
	i = ((size_t)slot * METRICS_NMETHODS + method_index(method)) *
	    METRICS_NSTATUS + status_index(status);
	bump(&b->requests[i], 1);
	bump(&b->c[METRIC_BUSY_NS], observe(b, METRIC_H_REQUEST, start));
}

void
metrics_redis(int rc, int64_t start)
{
	metrics_count(METRIC_REDIS_ROUND_TRIPS);
	if (rc != 0)
		metrics_count(METRIC_REDIS_ERRORS);
	metrics_observe(METRIC_H_REDIS, start);
}

void
metrics_db(int replica, int rc, int64_t start)
{
	metrics_count(replica ? METRIC_DB_REPLICA : METRIC_DB_PRIMARY);
	if (rc != 0)
		metrics_count(METRIC_DB_ERRORS);
	metrics_observe(METRIC_H_DB, start);
}

void
metrics_sign_in(enum shoal_status st)
{
	if (st == SHOAL_OK)
		metrics_count(METRIC_SIGN_IN_OK);
	else if (st == SHOAL_BAD_PASSWORD)
		metrics_count(METRIC_SIGN_IN_FAILED);
	else if (st == SHOAL_THROTTLED)
		metrics_count(METRIC_SIGN_IN_THROTTLED);
}

size_t
metrics_block_size(size_t nslots)
{
	size_t	 n = sizeof(struct metrics_block) + nslots * METRICS_NMETHODS *
	    METRICS_NSTATUS * sizeof(uint64_t);

	return (n + 63) & ~(size_t)63;
}

void
metrics_sum_add(struct metrics_sum *s, const struct metrics_block *b)
{
	size_t	 i, j, n = s->nslots * METRICS_NMETHODS * METRICS_NSTATUS;

	for (i = 0; i < METRICS_NCOUNTERS; i++)
		s->c[i] += atomic_load_explicit(&b->c[i], memory_order_relaxed);
	for (i = 0; i < METRICS_NHISTOGRAMS; i++) {
		for (j = 0; j < METRICS_NBUCKETS; j++)
			s->bucket[i][j] += atomic_load_explicit(
			    &b->h[i].bucket[j], memory_order_relaxed);
		s->sum_ns[i] += atomic_load_explicit(&b->h[i].sum_ns,
		    memory_order_relaxed);
	}
	for (i = 0; i < n; i++)
		s->requests[i] += atomic_load_explicit(&b->requests[i],
		    memory_order_relaxed);
}

const char **
metrics_route_names(const struct shoal_route *routes, size_t *n)
{
	const char	**names;
	size_t		  i, nroutes = 0;

	while (routes[nroutes].path != NULL)
		nroutes++;
	*n = METRICS_ROUTE_APP + nroutes;
	names = xcalloc(*n, sizeof *names);
	names[METRICS_ROUTE_UNMATCHED] = "unmatched";
	names[METRICS_ROUTE_HEALTHZ] = "/healthz";
	names[METRICS_ROUTE_READYZ] = "/readyz";
	names[METRICS_ROUTE_HEALTHZ_DB] = "/healthz/db";
	for (i = 0; i < nroutes; i++)
		names[METRICS_ROUTE_APP + i] = routes[i].path;
	return names;
}

/* A label value: backslash, double quote and newline escaped. */
static void
put_label(struct buf *out, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_putc(out, '\\');
		if (*v == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *v);
	}
}

static void
put_seconds(struct buf *out, uint64_t ns)
{
	buf_printf(out, "%llu.%09llu", (unsigned long long)(ns / 1000000000),
	    (unsigned long long)(ns % 1000000000));
}

static void
head(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one(struct buf *out, const char *name, const char *type, const char *help,
    uint64_t v)
{
	head(out, name, type, help);
	buf_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void
histogram(struct buf *out, const struct metrics_sum *s,
    enum metrics_histogram h, const char *name, const char *help)
{
	uint64_t	 total = 0;
	size_t		 i;

	head(out, name, "histogram", help);
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		total += s->bucket[h][i];
		buf_printf(out, "%s_bucket{le=\"%s\"} %llu\n", name,
		    bucket_le[i], (unsigned long long)total);
	}
	buf_printf(out, "%s_sum ", name);
	put_seconds(out, s->sum_ns[h]);
	buf_printf(out, "\n%s_count %llu\n", name, (unsigned long long)total);
}

static void
requests(struct buf *out, const struct metrics_sum *s,
    const char *const *names)
{
	size_t		 slot, m, st, i = 0;
	uint64_t	 v;

	head(out, "shoal_requests_total", "counter",
	    "Requests answered, by route pattern, method and status");
	for (slot = 0; slot < s->nslots; slot++)
		for (m = 0; m < METRICS_NMETHODS; m++)
			for (st = 0; st < METRICS_NSTATUS; st++, i++) {
				if ((v = s->requests[i]) == 0)
					continue;
				buf_puts(out, "shoal_requests_total{route=\"");
				put_label(out, names[slot]);
				buf_printf(out, "\",method=\"%s\",code=\"",
				    method_names[m]);
				if (st < METRICS_NSTATUS - 1)
					buf_printf(out, "%d", status_codes[st]);
				else
					buf_puts(out, "other");
				buf_printf(out, "\"} %llu\n",
				    (unsigned long long)v);
			}
}

void
metrics_render(struct buf *out, const struct metrics_sum *s,
    const char *const *names, const char *version)
{
	const uint64_t	*c = s->c;

	requests(out, s, names);
	histogram(out, s, METRIC_H_REQUEST, "shoal_request_duration_seconds",
	    "Time from reading a request to its response written");
	one(out, "shoal_threads", "gauge", "Serving threads of the server",
	    s->threads);
	one(out, "shoal_threads_busy", "gauge",
	    "Threads handling a request now", c[METRIC_THREAD_BUSY]);
	head(out, "shoal_thread_busy_seconds_total", "counter",
	    "Time threads spent handling requests");
	buf_puts(out, "shoal_thread_busy_seconds_total ");
	put_seconds(out, c[METRIC_BUSY_NS]);
	buf_putc(out, '\n');
	one(out, "shoal_processes", "gauge", "Live processes of the server",
	    s->processes);
	one(out, "shoal_connections_accepted_total", "counter",
	    "Connections accepted from the web server",
	    c[METRIC_CONN_ACCEPTED]);
	one(out, "shoal_connections_kept_alive", "gauge",
	    "Connections held open between requests",
	    c[METRIC_CONN_KEPT_ALIVE]);
	one(out, "shoal_redis_round_trips_total", "counter",
	    "Batches of commands sent to Redis", c[METRIC_REDIS_ROUND_TRIPS]);
	one(out, "shoal_redis_writes_total", "counter",
	    "Writes of commands to Redis: one batch, or several threads' "
	    "batches sent together", c[METRIC_REDIS_WRITES]);
	one(out, "shoal_redis_errors_total", "counter",
	    "Batches that failed: no connection, timeout, or an error reply",
	    c[METRIC_REDIS_ERRORS]);
	histogram(out, s, METRIC_H_REDIS, "shoal_redis_round_trip_seconds",
	    "Time of a batch sent to Redis, connecting included");
	head(out, "shoal_db_queries_total", "counter",
	    "Statements sent to the database, by target");
	buf_printf(out, "shoal_db_queries_total{target=\"primary\"} %llu\n"
	    "shoal_db_queries_total{target=\"replica\"} %llu\n",
	    (unsigned long long)c[METRIC_DB_PRIMARY],
	    (unsigned long long)c[METRIC_DB_REPLICA]);
	one(out, "shoal_db_errors_total", "counter",
	    "Statements that failed", c[METRIC_DB_ERRORS]);
	histogram(out, s, METRIC_H_DB, "shoal_db_query_seconds",
	    "Time of a statement, from sending to its last result");
	one(out, "shoal_cas_conflicts_total", "counter",
	    "Session writes that lost a compare-and-set and ran again",
	    c[METRIC_CAS_CONFLICTS]);
	one(out, "shoal_cas_give_ups_total", "counter",
	    "Session changes given up after too many conflicts",
	    c[METRIC_CAS_GIVE_UPS]);
	one(out, "shoal_sessions_created_total", "counter",
	    "Sessions created by sign-in or sign-up",
	    c[METRIC_SESSIONS_CREATED]);
	one(out, "shoal_sessions_ended_total", "counter",
	    "Sessions ended by sign-out or revocation",
	    c[METRIC_SESSIONS_ENDED]);
	one(out, "shoal_sessions_expired_on_read_total", "counter",
	    "Session cookies whose record was gone or past its lifetime",
	    c[METRIC_SESSIONS_EXPIRED]);
	one(out, "shoal_sessions_loaded_ahead_total", "counter",
	    "Session records a request took from the load of the request "
	    "before it on its thread, with no round trip of its own",
	    c[METRIC_SESSIONS_LOADED_AHEAD]);
	one(out, "shoal_guest_sessions_created_total", "counter",
	    "Guest sessions created", c[METRIC_GUESTS_CREATED]);
	head(out, "shoal_sign_ins_total", "counter", "Sign-ins by result");
	buf_printf(out, "shoal_sign_ins_total{result=\"ok\"} %llu\n"
	    "shoal_sign_ins_total{result=\"failed\"} %llu\n"
	    "shoal_sign_ins_total{result=\"throttled\"} %llu\n",
	    (unsigned long long)c[METRIC_SIGN_IN_OK],
	    (unsigned long long)c[METRIC_SIGN_IN_FAILED],
	    (unsigned long long)c[METRIC_SIGN_IN_THROTTLED]);
	one(out, "shoal_password_hashes_total", "counter",
	    "Password hashes and checks computed", c[METRIC_HASHES]);
	one(out, "shoal_password_hashes_waiting", "gauge",
	    "Threads waiting for a turn to hash", c[METRIC_HASHES_WAITING]);
	one(out, "shoal_password_hashes_refused_total", "counter",
	    "Hashes refused for want of a turn in time (503)",
	    c[METRIC_HASHES_REFUSED]);
	one(out, "shoal_cache_hits_total", "counter",
	    "Cached database reads found in Redis", c[METRIC_CACHE_HITS]);
	one(out, "shoal_cache_misses_total", "counter",
	    "Cached database reads that went to the database",
	    c[METRIC_CACHE_MISSES]);
	head(out, "shoal_build_info", "gauge", "The worker's version");
	buf_puts(out, "shoal_build_info{version=\"");
	put_label(out, version);
	buf_puts(out, "\"} 1\n");
}
