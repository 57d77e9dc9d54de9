/*
 * redis_link.c - one connection to one Redis node: connect, log in, load
 * the scripts, send a batch (or part of one) and read its replies (see
 * redis.h for what the executor guarantees, redis_link.h for the link).
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
#include "log.h"
#include "metrics.h"
#include "oom.h"
#include "redis_link.h"
#include "sentinel.h"

int64_t
redis_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
redis_set_fault(struct redis *s, enum redis_fault f, const char *why)
{
	s->fault = f;
	snprintf(s->errstr, sizeof s->errstr, "%s", why);
}

static void
backoff(struct link *l)
{
	int64_t	 wait = REDIS_RECONNECT_MS;
	int	 i;

	l->failures++;
	for (i = 1; i < l->failures && wait < REDIS_RECONNECT_MAX_MS; i++)
		wait *= 2;
	if (wait > REDIS_RECONNECT_MAX_MS)
		wait = REDIS_RECONNECT_MAX_MS;
	l->retry_at_ms = redis_now_ms() + wait;
}

void
link_close(struct link *l)
{
	if (l->c != NULL) {
		redisFree(l->c);
		l->c = NULL;
	}
}

void
link_drop(struct link *l, const char *why)
{
	if (l->c != NULL) {
		if (l->host[0] != '\0')
			log_event("warn", "redis connection to %s:%d dropped: "
			    "%s", l->host, l->port, why);
		else
			log_event("warn", "redis connection dropped: %s", why);
		link_close(l);
	}
	backoff(l);
}

void
link_drop_now(struct link *l, const char *why)
{
	link_drop(l, why);
	l->failures = 0;
	l->retry_at_ms = 0;
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

/* 1 when a connect or a command failed for want of an answer in time (a
 * node that hangs), rather than being refused or cut. */
static int
timed_out(const redisContext *c, int saved_errno)
{
	return c->err == REDIS_ERR_IO && (saved_errno == EAGAIN ||
	    saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
	    saved_errno == EINPROGRESS);
}

/* Runs a command on a connected link; a reply that is not an error, or
 * NULL with the fault set and the connection dropped. */
static redisReply *
setup_command(struct redis *s, struct link *l, int argc, const char **argv)
{
	redisReply	*r = redisCommandArgv(l->c, argc, argv, NULL);
	char		 why[REDIS_ERRSTR_MAX];

	if (r == NULL) {
		snprintf(why, sizeof why, "%s: %s", argv[0], l->c->errstr);
		redis_set_fault(s, timed_out(l->c, errno) ? REDIS_FAULT_TIMEOUT :
		    REDIS_FAULT_CONNECT, why);
		link_drop(l, why);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof why, "%s: %s", argv[0], r->str);
		freeReplyObject(r);
		redis_set_fault(s, REDIS_FAULT_CONNECT, why);
		link_drop(l, why);
		return NULL;
	}
	return r;
}

static int
load_scripts(struct redis *s, struct link *l)
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
		if ((r = setup_command(s, l, 3, argv)) == NULL)
			return -1;
		if (r->type != REDIS_REPLY_STRING || r->len != 40) {
			freeReplyObject(r);
			redis_set_fault(s, REDIS_FAULT_CONNECT,
			    "SCRIPT LOAD: unexpected reply");
			link_drop(l, s->errstr);
			return -1;
		}
		memcpy(s->sha[i], r->str, 41);
		freeReplyObject(r);
	}
	return 0;
}

/* Dials the link's node: a cluster node, the fixed address, or the primary
 * a Sentinel names. 0, or -1 with the fault set and a backoff. */
static int
dial(struct redis *s, struct link *l)
{
	const struct config	*cfg = s->cfg;
	char			 host[SENTINEL_HOST_MAX];
	int			 port;

	if (l->host[0] != '\0')
		l->c = redis_dial(cfg, l->host, l->port, NULL);
	else if (s->fixed != NULL)
		l->c = redis_dial(cfg, s->fixed->host, s->fixed->port,
		    s->fixed->socket);
	else if (sentinel_find_primary(cfg, &s->sentinel, host, sizeof host,
	    &port) == 0)
		l->c = redis_dial(cfg, host, port, NULL);
	else {
		redis_set_fault(s, REDIS_FAULT_CONNECT, "no Sentinel knows the "
		    "primary");
		backoff(l);
		return -1;
	}
	return 0;
}

/*
 * Connects, authenticates, checks (through Sentinel) that the node really
 * is the primary (Sentinel may still name a node that was just demoted) and
 * loads the scripts. A failure leaves no connection and backs off.
 */
static int
link_connect(struct redis *s, struct link *l)
{
	const struct config	*cfg = s->cfg;
	char			 why[REDIS_ERRSTR_MAX];
	const char		*argv[3];
	redisReply		*r;
	int			 saved_errno;

	if (l->c != NULL)
		return 0;
	if (redis_now_ms() < l->retry_at_ms) {
		redis_set_fault(s, REDIS_FAULT_BACKOFF, "waiting to reconnect");
		return -1;
	}
	if (dial(s, l) != 0)
		return -1;
	if (l->c->err) {
		saved_errno = errno;
		snprintf(why, sizeof why, "connect: %s", l->c->errstr);
		if (l->host[0] != '\0')
			log_event("warn", "redis connect to %s:%d failed: %s",
			    l->host, l->port, l->c->errstr);
		else
			log_event("warn", "redis connect failed: %s",
			    l->c->errstr);
		redis_set_fault(s, timed_out(l->c, saved_errno) ?
		    REDIS_FAULT_TIMEOUT : REDIS_FAULT_CONNECT, why);
		link_close(l);
		backoff(l);
		return -1;
	}
	if (cfg->redis_password[0] != '\0') {
		/* AUTH user password: an ACL user (Redis 6 and later). */
		argv[0] = "AUTH";
		argv[1] = cfg->redis_user[0] ? cfg->redis_user :
		    cfg->redis_password;
		argv[2] = cfg->redis_password;
		if ((r = setup_command(s, l, cfg->redis_user[0] ? 3 : 2,
		    argv)) == NULL)
			return -1;
		freeReplyObject(r);
	}
	if (l->host[0] == '\0' && s->fixed == NULL &&
	    sentinel_is_primary(l->c, why, sizeof why) != 0) {
		redis_set_fault(s, REDIS_FAULT_CONNECT, why);
		link_drop(l, why);
		return -1;
	}
	if (load_scripts(s, l) != 0)
		return -1;
	l->failures = 0;
	return 0;
}

struct redisReply *
link_command(struct redis *s, struct link *l, int argc, const char **argv)
{
	if (link_connect(s, l) != 0)
		return NULL;
	return setup_command(s, l, argc, argv);
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

static const char *const nkeys_text[REDIS_SCRIPT_KEYS_MAX + 1] = {
	"0", "1", "2", "3", "4" };

/*
 * Queues one command; scripts by SHA, or by source for a second try. A
 * script's vector has three free slots in front of its arguments
 * (redis_batch_add), filled here with EVALSHA, the SHA and the key count.
 */
static void
append(struct redis *s, struct link *l, const struct redis_cmd *c,
    int by_sha, int asking)
{
	const struct script_source *src;
	const char	**argv = c->argv;
	size_t		 *argl = c->argl;
	int		  argc = c->argc;

	if (asking && redisAppendCommand(l->c, "ASKING") != REDIS_OK)
		oom();
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
	if (redisAppendCommandArgv(l->c, argc, argv, argl) != REDIS_OK)
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
io_fault(struct redis *s, struct link *l, int saved_errno)
{
	enum redis_fault f = REDIS_FAULT_IO;
	const char	*why = l->c->errstr[0] ? l->c->errstr : "no reply";

	if (l->c->err == REDIS_ERR_EOF)
		f = REDIS_FAULT_CLOSED;
	else if (l->c->err == REDIS_ERR_PROTOCOL)
		f = REDIS_FAULT_REPLY;
	else if (l->c->err == REDIS_ERR_IO && (saved_errno == ECONNRESET ||
	    saved_errno == EPIPE))
		f = REDIS_FAULT_CLOSED;
	else if (l->c->err == REDIS_ERR_IO && (saved_errno == EAGAIN ||
	    saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT)) {
		f = REDIS_FAULT_TIMEOUT;
		why = "timed out";
	}
	redis_set_fault(s, f, why);
}

/* Reads the replies of cmds idx[0..n-1] into out[idx[...]]; with asking,
 * each after the reply to its ASKING, which is dropped. */
static int
read_replies(struct redis *s, struct link *l, struct arena *a,
    const size_t *idx, size_t n, int asking, struct redis_value *out)
{
	redisReply	*r;
	size_t		 i;
	int		 k;

	for (i = 0; i < n; i++) {
		for (k = asking ? 0 : 1; k < 2; k++) {
			if (redisGetReply(l->c, (void **)&r) != REDIS_OK) {
				io_fault(s, l, errno);
				return -1;
			}
			if (k == 1)
				copy_value(a, r, &out[idx ? idx[i] : i]);
			freeReplyObject(r);
		}
	}
	return 0;
}

static int
is_noscript(const struct redis_cmd *c, const struct redis_value *v)
{
	return c->script >= 0 && v->type == REDIS_VALUE_ERROR &&
	    strncmp(v->str, "NOSCRIPT", 8) == 0;
}

static void
send_cmds(struct redis *s, struct link *l, struct redis_batch *b,
    const size_t *idx, size_t n, int by_sha, int asking)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		append(s, l, &b->cmd[idx ? idx[i] : i], by_sha, asking);
}

/* The commands of idx[0..n-1] Redis answered NOSCRIPT, in b's arena;
 * *nagain of them (NULL when none). */
static size_t *
forgotten(struct redis_batch *b, const size_t *idx, size_t n, size_t *nagain)
{
	size_t	*again = NULL, i, k;

	*nagain = 0;
	for (i = 0; i < n; i++) {
		k = idx ? idx[i] : i;
		if (!is_noscript(&b->cmd[k], &b->reply[k]))
			continue;
		if (again == NULL)
			again = arena_alloc(b->arena, n * sizeof *again);
		again[(*nagain)++] = k;
	}
	return again;
}

/*
 * One exchange: every command in one write, every reply read (even after
 * an error, which keeps the connection in step), then the forgotten
 * scripts again by source.
 */
static int
exchange(struct redis *s, struct link *l, struct redis_batch *b,
    const size_t *idx, size_t n, int asking)
{
	size_t	*again, nagain;

	send_cmds(s, l, b, idx, n, 1, asking);
	if (read_replies(s, l, b->arena, idx, n, asking, b->reply) != 0)
		return -1;
	if ((again = forgotten(b, idx, n, &nagain)) == NULL)
		return 0;
	send_cmds(s, l, b, again, nagain, 0, asking);
	return read_replies(s, l, b->arena, again, nagain, asking, b->reply);
}

/*
 * The same for several batches not yet done: all their commands in one
 * write, their replies read in that order, each into its own batch; then
 * every forgotten script of them all by source, in a second write. Marks
 * done each batch whose replies have all come. 0, or -1 at the first reply
 * that did not come.
 */
static int
exchange_many(struct redis *s, struct link *l, struct redis_batch **b,
    size_t nb, int *done)
{
	size_t	**again, *nagain, j, pending = 0;

	again = arena_alloc(b[0]->arena, nb * sizeof *again);
	nagain = arena_alloc(b[0]->arena, nb * sizeof *nagain);
	for (j = 0; j < nb; j++)
		if (!done[j])
			send_cmds(s, l, b[j], NULL, b[j]->n, 1, 0);
	for (j = 0; j < nb; j++) {
		again[j] = NULL;
		nagain[j] = 0;
		if (done[j])
			continue;
		if (read_replies(s, l, b[j]->arena, NULL, b[j]->n, 0,
		    b[j]->reply) != 0)
			return -1;
		again[j] = forgotten(b[j], NULL, b[j]->n, &nagain[j]);
		if (again[j] == NULL)
			done[j] = 1;
		else
			pending++;
	}
	if (pending == 0)
		return 0;
	for (j = 0; j < nb; j++)
		if (again[j] != NULL)
			send_cmds(s, l, b[j], again[j], nagain[j], 0, 0);
	for (j = 0; j < nb; j++) {
		if (again[j] == NULL)
			continue;
		if (read_replies(s, l, b[j]->arena, again[j], nagain[j], 0,
		    b[j]->reply) != 0)
			return -1;
		done[j] = 1;
	}
	return 0;
}

int
link_run(struct redis *s, struct link *l, struct redis_batch *b,
    const size_t *idx, size_t n, int asking)
{
	int	 reused;

	if (l->c != NULL && closed_while_idle(l->c))
		link_drop_now(l, "closed by Redis while idle");
	reused = l->c != NULL;
	if (link_connect(s, l) != 0)
		return -1;
	metrics_count(METRIC_REDIS_WRITES);
	if (exchange(s, l, b, idx, n, asking) == 0)
		return 0;
	if (!(reused && b->idempotent && s->fault == REDIS_FAULT_CLOSED)) {
		link_drop(l, s->errstr);
		return -1;
	}
	link_drop_now(l, s->errstr);
	if (link_connect(s, l) != 0)
		return -1;
	if (exchange(s, l, b, idx, n, asking) != 0) {
		link_drop(l, s->errstr);
		return -1;
	}
	return 0;
}

/* Whether some batch not done may be sent again (redis.h); the others
 * are marked failed (-1): their writes may have been applied. */
static int
retry_some(struct redis_batch **b, size_t nb, int *done)
{
	size_t	 j;
	int	 any = 0;

	for (j = 0; j < nb; j++) {
		if (done[j])
			continue;
		if (b[j]->idempotent)
			any = 1;
		else
			done[j] = -1;
	}
	return any;
}

size_t
link_run_many(struct redis *s, struct link *l, struct redis_batch **b,
    size_t nb, int *done)
{
	size_t	 j, ndone = 0;
	int	 reused, rc;

	memset(done, 0, nb * sizeof *done);
	if (l->c != NULL && closed_while_idle(l->c))
		link_drop_now(l, "closed by Redis while idle");
	reused = l->c != NULL;
	if (link_connect(s, l) != 0)
		return 0;
	metrics_count(METRIC_REDIS_WRITES);
	rc = exchange_many(s, l, b, nb, done);
	if (rc != 0 && reused && s->fault == REDIS_FAULT_CLOSED &&
	    retry_some(b, nb, done)) {
		link_drop_now(l, s->errstr);
		/* A failed connect has set the fault and backed off. */
		rc = link_connect(s, l) == 0 ?
		    exchange_many(s, l, b, nb, done) : 0;
	}
	if (rc != 0)
		link_drop(l, s->errstr);
	for (j = 0; j < nb; j++) {
		if (done[j] < 0)	/* not sent again: failed */
			done[j] = 0;
		ndone += (size_t)done[j];
	}
	return ndone;
}
