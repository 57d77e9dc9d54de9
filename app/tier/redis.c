/*
 * redis.c - the connection and the batch executor (see redis.h).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>

#include "arena.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "oom.h"
#include "redis.h"
#include "scripts.h"
#include "sentinel.h"

struct redis {
	const struct config	*cfg;
	const struct redis_addr	*fixed;		/* NULL: ask the Sentinels */
	int			 sentinel;	/* the one that answered last */
	redisContext		*c;
	char			 sha[NSCRIPTS][41];
	int64_t			 retry_at_ms;	/* no reconnect before this */
	int			 failures;	/* connects failed in a row */
	enum redis_fault	 fault;
	char			 errstr[REDIS_ERRSTR_MAX];
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct redis *
redis_new(const struct config *cfg)
{
	struct redis	*s = xcalloc(1, sizeof *s);

	s->cfg = cfg;
	s->fixed = cfg->nsentinels > 0 ? NULL : &cfg->redis_addr;
	return s;
}

void
redis_free(struct redis *s)
{
	if (s == NULL)
		return;
	if (s->c != NULL)
		redisFree(s->c);
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

static void
set_fault(struct redis *s, enum redis_fault f, const char *why)
{
	s->fault = f;
	snprintf(s->errstr, sizeof s->errstr, "%s", why);
}

static void
backoff(struct redis *s)
{
	int64_t	 wait = REDIS_RECONNECT_MS;
	int	 i;

	s->failures++;
	for (i = 1; i < s->failures && wait < REDIS_RECONNECT_MAX_MS; i++)
		wait *= 2;
	if (wait > REDIS_RECONNECT_MAX_MS)
		wait = REDIS_RECONNECT_MAX_MS;
	s->retry_at_ms = now_ms() + wait;
}

/* Closes the connection; the next batch reconnects, after a backoff. */
static void
drop(struct redis *s, const char *why)
{
	if (s->c != NULL) {
		log_event("warn", "redis connection dropped: %s", why);
		redisFree(s->c);
		s->c = NULL;
	}
	backoff(s);
}

/* Drops a connection that broke under a working Redis: the next connect
 * is tried at once. */
static void
drop_now(struct redis *s, const char *why)
{
	drop(s, why);
	s->failures = 0;
	s->retry_at_ms = 0;
}

struct redisContext *
redis_dial(const struct config *cfg, const char *host, int port,
    const char *socket_path)
{
	struct timeval	 tv;
	redisContext	*c;

	tv.tv_sec = cfg->redis_timeout_ms / 1000;
	tv.tv_usec = (cfg->redis_timeout_ms % 1000) * 1000;
	if (socket_path != NULL)
		c = redisConnectUnixWithTimeout(socket_path, tv);
	else
		c = redisConnectWithTimeout(host, port, tv);
	if (c == NULL)
		oom();
	if (c->err == 0 && redisSetTimeout(c, tv) != REDIS_OK) {
		c->err = REDIS_ERR_IO;
		snprintf(c->errstr, sizeof c->errstr, "cannot set timeouts");
	}
	return c;
}

/* Runs a command while setting up a connection; a reply that is not an
 * error, or NULL with the fault set and the connection dropped. */
static redisReply *
setup_command(struct redis *s, int argc, const char **argv)
{
	redisReply	*r = redisCommandArgv(s->c, argc, argv, NULL);
	char		 why[REDIS_ERRSTR_MAX];

	if (r == NULL) {
		snprintf(why, sizeof why, "%s: %s", argv[0], s->c->errstr);
		set_fault(s, REDIS_FAULT_CONNECT, why);
		drop(s, why);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof why, "%s: %s", argv[0], r->str);
		freeReplyObject(r);
		set_fault(s, REDIS_FAULT_CONNECT, why);
		drop(s, why);
		return NULL;
	}
	return r;
}

static int
load_scripts(struct redis *s)
{
	const struct script_source *src;
	const char	*argv[3];
	redisReply	*r;
	int		 i;

	for (i = 0; i < NSCRIPTS; i++) {
		src = script_source(i);
		argv[0] = "SCRIPT";
		argv[1] = "LOAD";
		argv[2] = src->text;
		if ((r = setup_command(s, 3, argv)) == NULL)
			return -1;
		if (r->type != REDIS_REPLY_STRING || r->len != 40) {
			freeReplyObject(r);
			set_fault(s, REDIS_FAULT_CONNECT,
			    "SCRIPT LOAD: unexpected reply");
			drop(s, s->errstr);
			return -1;
		}
		memcpy(s->sha[i], r->str, 41);
		freeReplyObject(r);
	}
	return 0;
}

/*
 * Connects, authenticates, checks (through Sentinel) that the node really
 * is the primary (Sentinel may still name a node that was just demoted) and
 * loads the scripts. A failure leaves no connection and backs off.
 */
static int
connect_redis(struct redis *s)
{
	const struct config	*cfg = s->cfg;
	char			 host[SENTINEL_HOST_MAX], why[REDIS_ERRSTR_MAX];
	const char		*argv[3];
	redisReply		*r;
	int			 port;

	if (s->c != NULL)
		return 0;
	if (now_ms() < s->retry_at_ms) {
		set_fault(s, REDIS_FAULT_BACKOFF, "waiting to reconnect");
		return -1;
	}
	if (s->fixed != NULL)
		s->c = redis_dial(cfg, s->fixed->host, s->fixed->port,
		    s->fixed->socket);
	else if (sentinel_find_primary(cfg, &s->sentinel, host, sizeof host,
	    &port) == 0)
		s->c = redis_dial(cfg, host, port, NULL);
	else {
		set_fault(s, REDIS_FAULT_CONNECT, "no Sentinel knows the "
		    "primary");
		backoff(s);
		return -1;
	}
	if (s->c->err) {
		snprintf(why, sizeof why, "connect: %s", s->c->errstr);
		log_event("warn", "redis connect failed: %s", s->c->errstr);
		redisFree(s->c);
		s->c = NULL;
		set_fault(s, REDIS_FAULT_CONNECT, why);
		backoff(s);
		return -1;
	}
	if (cfg->redis_password[0] != '\0') {
		/* AUTH user password: an ACL user (Redis 6 and later). */
		argv[0] = "AUTH";
		argv[1] = cfg->redis_user[0] ? cfg->redis_user :
		    cfg->redis_password;
		argv[2] = cfg->redis_password;
		if ((r = setup_command(s, cfg->redis_user[0] ? 3 : 2,
		    argv)) == NULL)
			return -1;
		freeReplyObject(r);
	}
	if (s->fixed == NULL &&
	    sentinel_is_primary(s->c, why, sizeof why) != 0) {
		set_fault(s, REDIS_FAULT_CONNECT, why);
		drop(s, why);
		return -1;
	}
	if (load_scripts(s) != 0)
		return -1;
	s->failures = 0;
	return 0;
}

/*
 * 1 when Redis has closed this idle connection (or sent something nobody
 * asked for, which leaves it out of step): Redis speaks only when spoken to,
 * so an idle connection with anything to read is finished.
 */
static int
closed_while_idle(const redisContext *c)
{
	char	 byte;
	ssize_t	 n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR);
}

static const char *const nkeys_text[] = { "0", "1", "2", "3", "4" };

#define SCRIPT_HEAD	3	/* EVALSHA sha nkeys */

/*
 * Queues one command; scripts by SHA, or by source for a second try. A
 * script's vector has three free slots in front of its arguments
 * (redis_batch_add), filled here with EVALSHA, the SHA and the key count.
 */
static void
append(struct redis *s, const struct redis_cmd *c, int by_sha)
{
	const struct script_source *src;
	const char	**argv = c->argv;
	size_t		 *argl = c->argl;
	int		  argc = c->argc;

	if (c->script >= 0) {
		argc += SCRIPT_HEAD;
		argv -= SCRIPT_HEAD;
		argl -= SCRIPT_HEAD;
		src = script_source(c->script);
		argv[0] = by_sha ? "EVALSHA" : "EVAL";
		argl[0] = by_sha ? 7 : 4;
		argv[1] = by_sha ? s->sha[c->script] : src->text;
		argl[1] = by_sha ? 40 : src->len;
		argv[2] = nkeys_text[c->nkeys];
		argl[2] = 1;
	}
	if (redisAppendCommandArgv(s->c, argc, argv, argl) != REDIS_OK)
		oom();
}

static void
copy_value(struct arena *a, const redisReply *r, struct redis_value *out)
{
	size_t	 i;

	memset(out, 0, sizeof *out);
	switch (r->type) {
	case REDIS_REPLY_INTEGER:
		out->type = REDIS_VALUE_INT;
		out->integer = r->integer;
		break;
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		out->type = r->type == REDIS_REPLY_ERROR ? REDIS_VALUE_ERROR :
		    REDIS_VALUE_STRING;
		out->str = arena_memdup(a, r->str, r->len);
		out->len = r->len;
		break;
	case REDIS_REPLY_ARRAY:
		out->type = REDIS_VALUE_ARRAY;
		out->n = r->elements;
		out->elem = arena_calloc(a, r->elements ? r->elements : 1,
		    sizeof *out->elem);
		for (i = 0; i < r->elements; i++)
			copy_value(a, r->element[i], &out->elem[i]);
		break;
	default:
		out->type = REDIS_VALUE_NIL;
	}
}

/* Sets the fault for a reply that did not come. */
static void
io_fault(struct redis *s, int saved_errno)
{
	enum redis_fault f = REDIS_FAULT_IO;
	const char	*why = s->c->errstr[0] ? s->c->errstr : "no reply";

	if (s->c->err == REDIS_ERR_EOF)
		f = REDIS_FAULT_CLOSED;
	else if (s->c->err == REDIS_ERR_PROTOCOL)
		f = REDIS_FAULT_REPLY;
	else if (s->c->err == REDIS_ERR_IO && (saved_errno == ECONNRESET ||
	    saved_errno == EPIPE))
		f = REDIS_FAULT_CLOSED;
	else if (s->c->err == REDIS_ERR_IO && (saved_errno == EAGAIN ||
	    saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT)) {
		f = REDIS_FAULT_TIMEOUT;
		why = "timed out";
	}
	set_fault(s, f, why);
}

/* Reads the replies of cmds[idx[0..n-1]] into out[idx[...]]. */
static int
read_replies(struct redis *s, struct arena *a, const size_t *idx, size_t n,
    struct redis_value *out)
{
	redisReply	*r;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (redisGetReply(s->c, (void **)&r) != REDIS_OK) {
			io_fault(s, errno);
			return -1;
		}
		copy_value(a, r, &out[idx ? idx[i] : i]);
		freeReplyObject(r);
	}
	return 0;
}

static int
is_noscript(const struct redis_cmd *c, const struct redis_value *v)
{
	return c->script >= 0 && v->type == REDIS_VALUE_ERROR &&
	    strncmp(v->str, "NOSCRIPT", 8) == 0;
}

/*
 * One exchange: every command in one write, every reply read (even after
 * an error, which keeps the connection in step), then the forgotten
 * scripts again by source.
 */
static int
exchange(struct redis *s, struct redis_batch *b)
{
	size_t	*again = NULL, nagain = 0, i;

	for (i = 0; i < b->n; i++)
		append(s, &b->cmd[i], 1);
	if (read_replies(s, b->arena, NULL, b->n, b->reply) != 0)
		return -1;
	for (i = 0; i < b->n; i++) {
		if (!is_noscript(&b->cmd[i], &b->reply[i]))
			continue;
		if (again == NULL)
			again = arena_alloc(b->arena, b->n * sizeof *again);
		again[nagain++] = i;
	}
	if (nagain == 0)
		return 0;
	for (i = 0; i < nagain; i++)
		append(s, &b->cmd[again[i]], 0);
	return read_replies(s, b->arena, again, nagain, b->reply);
}

static int
run_batch(struct redis *s, struct redis_batch *b)
{
	size_t	 i;
	int	 reused;

	s->fault = REDIS_FAULT_NONE;
	s->errstr[0] = '\0';
	if (b->n == 0)
		return 0;
	if (s->c != NULL && closed_while_idle(s->c))
		drop_now(s, "closed by Redis while idle");
	reused = s->c != NULL;
	if (connect_redis(s) != 0)
		return -1;
	if (exchange(s, b) != 0) {
		if (!(reused && b->idempotent &&
		    s->fault == REDIS_FAULT_CLOSED)) {
			drop(s, s->errstr);
			return -1;
		}
		drop_now(s, s->errstr);
		if (connect_redis(s) != 0)
			return -1;
		if (exchange(s, b) != 0) {
			drop(s, s->errstr);
			return -1;
		}
	}
	for (i = 0; i < b->n; i++) {
		if (b->reply[i].type == REDIS_VALUE_ERROR) {
			set_fault(s, REDIS_FAULT_ERROR, b->reply[i].str);
			drop(s, "error reply");
			return -1;
		}
	}
	return 0;
}

int
redis_run(struct redis *s, struct redis_batch *b)
{
	int64_t	 start = metrics_clock();
	int	 rc = run_batch(s, b);

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

	if (nkeys < 0 || nkeys >= (int)(sizeof nkeys_text /
	    sizeof nkeys_text[0]) || argc < 1) {
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

/* Error replies that say "not now" rather than "never". */
static int
transient_error(const char *e)
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
	    (s->fault == REDIS_FAULT_ERROR && !transient_error(s->errstr));

	if (s->fault != REDIS_FAULT_BACKOFF)
		log_event(internal ? "error" : "warn", "redis %s failed: %s: "
		    "%s", op, fault_name(s->fault), s->errstr);
	return internal ? SHOAL_INTERNAL : SHOAL_UNAVAILABLE;
}

enum shoal_status
redis_bad_reply(struct redis *s, const char *op, const char *what)
{
	set_fault(s, REDIS_FAULT_REPLY, what);
	drop_now(s, "unusable reply");
	return redis_status(s, op);
}
