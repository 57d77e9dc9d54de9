/*
 * redis.c - the batch executor's front (see redis.h): building batches,
 * running one on the primary or across a cluster (redis_cluster.c), and
 * what a failure means to the caller. One connection is redis_link.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "oom.h"
#include "redis_link.h"

struct redis *
redis_new(const struct config *cfg)
{
	struct redis	*s = xcalloc(1, sizeof *s);

	s->cfg = cfg;
	s->fixed = cfg->nsentinels > 0 ? NULL : &cfg->redis_addr;
	if (cfg->ncluster_seeds > 0)
		s->cluster = cluster_new();
	return s;
}

void
redis_share_with(struct redis *s, struct redis_share *sh)
{
	if (s->cluster == NULL)
		s->share = sh;
}

void
redis_free(struct redis *s)
{
	if (s == NULL)
		return;
	link_close(&s->primary);
	cluster_free(s->cluster);
	free(s);
}

enum redis_fault
redis_fault(const struct redis *s)
{
	return s->fault;
}

const char *
redis_errstr(const struct redis *s)
{
	return s->errstr;
}

/* Without a cluster: the whole batch on the primary's link. */
static int
run_batch(struct redis *s, struct redis_batch *b)
{
	size_t	 i;

	s->last = &s->primary;
	if (link_run(s, &s->primary, b, NULL, b->n, 0) != 0)
		return -1;
	for (i = 0; i < b->n; i++) {
		if (b->reply[i].type == REDIS_VALUE_ERROR) {
			redis_set_fault(s, REDIS_FAULT_ERROR, b->reply[i].str);
			link_drop(&s->primary, "error reply");
			return -1;
		}
	}
	return 0;
}

static int
share_run(struct redis *s, struct redis_batch *b)
{
	int	 rc;

	redis_share_run_each(s->share, s, &b, 1, &rc);
	return rc;
}

int
redis_runs_each(const struct redis *s)
{
	return s->share != NULL;
}

int
redis_run_each(struct redis *s, struct redis_batch **b, size_t n, int *rc)
{
	int64_t	 start = metrics_clock();
	size_t	 i;

	if (s->share == NULL || n > REDIS_EACH_MAX)
		return -1;
	s->fault = REDIS_FAULT_NONE;
	s->errstr[0] = '\0';
	redis_share_run_each(s->share, s, b, n, rc);
	metrics_redis(rc[0], start);
	for (i = 0; i < n; i++)
		if (rc[i] != 0)
			return -1;
	return 0;
}

int
redis_run(struct redis *s, struct redis_batch *b)
{
	int64_t	 start = metrics_clock();
	int	 rc = 0;

	s->fault = REDIS_FAULT_NONE;
	s->errstr[0] = '\0';
	if (b->n > 0)
		rc = s->cluster ? cluster_run(s, b) : s->share ?
		    share_run(s, b) : run_batch(s, b);

	if (b->n > 0)
		metrics_redis(rc, start);
	return rc;
}

void
redis_batch_init(struct redis_batch *b, struct arena *a, int idempotent)
{
	memset(b, 0, sizeof *b);
	b->arena = a;
	b->idempotent = idempotent;
}

size_t
redis_batch_add(struct redis_batch *b, int script, int nkeys, int argc)
{
	struct redis_cmd	*c;
	size_t			 cap;
	int			 head;

	if (nkeys < 0 || nkeys > REDIS_SCRIPT_KEYS_MAX || argc < 1) {
		log_event("error", "a Redis command of %d arguments and %d "
		    "keys", argc, nkeys);
		abort();
	}
	if (b->n == b->cap) {
		cap = b->cap ? 2 * b->cap : 4;
		c = arena_alloc(b->arena, cap * sizeof *c);
		if (b->n > 0)
			memcpy(c, b->cmd, b->n * sizeof *c);
		b->cmd = c;
		b->reply = arena_calloc(b->arena, cap, sizeof *b->reply);
		b->cap = cap;
	}
	head = script >= 0 ? SCRIPT_HEAD : 0;
	c = &b->cmd[b->n];
	c->script = script;
	c->nkeys = nkeys;
	c->argc = argc;
	c->argv = arena_alloc(b->arena, (size_t)(head + argc) *
	    sizeof *c->argv);
	c->argl = arena_alloc(b->arena, (size_t)(head + argc) *
	    sizeof *c->argl);
	c->argv += head;
	c->argl += head;
	return b->n++;
}

void
redis_arg(struct redis_batch *b, size_t cmd, int i, const void *p,
    size_t len)
{
	b->cmd[cmd].argv[i] = p;
	b->cmd[cmd].argl[i] = len;
}

/* Decimal digits by hand: two numbers go with every session read. */
void
redis_arg_int(struct redis_batch *b, size_t cmd, int i, long long v)
{
	char			 tmp[24], *p = tmp + sizeof tmp, *out;
	unsigned long long	 u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;
	size_t			 n;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	n = (size_t)(tmp + sizeof tmp - p);
	out = arena_alloc(b->arena, n);
	memcpy(out, p, n);
	redis_arg(b, cmd, i, out, n);
}

static size_t
command(struct redis_batch *b, const char *name, int argc)
{
	size_t	 i = redis_batch_add(b, -1, 0, argc);

	redis_arg(b, i, 0, name, strlen(name));
	return i;
}

static size_t
key_command(struct redis_batch *b, const char *name, const struct redis_key *k)
{
	size_t	 i = command(b, name, 2);

	redis_arg(b, i, 1, k->s, strlen(k->s));
	return i;
}

size_t
redis_ping(struct redis_batch *b)
{
	return command(b, "PING", 1);
}

size_t
redis_get(struct redis_batch *b, const struct redis_key *k)
{
	return key_command(b, "GET", k);
}

size_t
redis_pttl(struct redis_batch *b, const struct redis_key *k)
{
	return key_command(b, "PTTL", k);
}

size_t
redis_del(struct redis_batch *b, const struct redis_key *k)
{
	return key_command(b, "DEL", k);
}

size_t
redis_set(struct redis_batch *b, const struct redis_key *k, const void *value,
    size_t len, enum redis_set_when when, int64_t ttl_ms)
{
	int	 argc = 3 + (when != REDIS_SET_ALWAYS) + 2 * (ttl_ms > 0), n = 3;
	size_t	 i = command(b, "SET", argc);

	redis_arg(b, i, 1, k->s, strlen(k->s));
	redis_arg(b, i, 2, value, len);
	if (when != REDIS_SET_ALWAYS)
		redis_arg(b, i, n++, when == REDIS_SET_IF_NEW ? "NX" : "XX", 2);
	if (ttl_ms > 0) {
		redis_arg(b, i, n++, "PX", 2);
		redis_arg_int(b, i, n, ttl_ms);
	}
	return i;
}

int
redis_error_transient(const char *e)
{
	static const char *const codes[] = { "READONLY", "LOADING",
	    "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "OOM",
	    "NOREPLICAS", "MISCONF", "NOSCRIPT" };
	size_t	 i, n;

	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		n = strlen(codes[i]);
		if (strncmp(e, codes[i], n) == 0 && (e[n] == ' ' ||
		    e[n] == '\0'))
			return 1;
	}
	return 0;
}

static const char *
fault_name(enum redis_fault f)
{
	switch (f) {
	case REDIS_FAULT_NONE:		return "none";
	case REDIS_FAULT_CONNECT:	return "cannot connect";
	case REDIS_FAULT_BACKOFF:	return "waiting to reconnect";
	case REDIS_FAULT_TIMEOUT:	return "timeout";
	case REDIS_FAULT_CLOSED:	return "connection closed";
	case REDIS_FAULT_IO:		return "socket error";
	case REDIS_FAULT_ERROR:		return "error reply";
	case REDIS_FAULT_REPLY:		return "unusable reply";
	}
	return "unknown";
}

enum shoal_status
redis_status(struct redis *s, const char *op)
{
	int	 internal = s->fault == REDIS_FAULT_REPLY ||
	    (s->fault == REDIS_FAULT_ERROR && !redis_error_transient(s->errstr));

	if (s->fault != REDIS_FAULT_BACKOFF)
		log_event(internal ? "error" : "warn", "redis %s failed: %s: "
		    "%s", op, fault_name(s->fault), s->errstr);
	return internal ? SHOAL_INTERNAL : SHOAL_UNAVAILABLE;
}

enum shoal_status
redis_bad_reply(struct redis *s, const char *op, const char *what)
{
	redis_set_fault(s, REDIS_FAULT_REPLY, what);
	if (s->share != NULL)
		redis_share_drop(s->share);
	else if (s->last != NULL)
		link_drop_now(s->last, "unusable reply");
	return redis_status(s, op);
}
