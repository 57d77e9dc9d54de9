/*
 * store.c - sessions and users in Redis over hiredis (see store.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis.h>

#include "arena.h"
#include "config.h"
#include "log.h"
#include "oom.h"
#include "store.h"

/*
 * Reads a session and slides its TTL only when less than ARGV[1] ms remain,
 * so most reads write nothing (nothing reaches the AOF or the replicas).
 */
static const char load_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v and redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return v\n";

/*
 * Compare-and-set: replace the record only if it still holds the bytes the
 * caller read. 0: the key is gone and stays gone (a slow request must not
 * bring back a session that was logged out). A string: someone else wrote;
 * here is what they wrote. 1: done.
 */
static const char cas_lua[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if not cur then return 0 end\n"
    "if cur ~= ARGV[1] then return cur end\n"
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
    "return 1\n";

/*
 * The per-user session index: a sorted set of session hashes scored by
 * their absolute expiry (ms), and a hash of hash -> "created\tuser agent".
 * Both keys carry the user's hash tag. Adding prunes what has expired and
 * trims the index to ARGV[6] entries, returning the hashes it evicted so the
 * caller deletes those sessions too (an evicted session must not outlive
 * its place in the index, or "sign out everywhere" could not reach it).
 */
static const char index_add_lua[] =
    "local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])\n"
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])\n"
    "local n = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[6])\n"
    "local evicted = {}\n"
    "if n > 0 then\n"
    "  evicted = redis.call('ZRANGE', KEYS[1], 0, n - 1)\n"
    "  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)\n"
    "end\n"
    "for _, h in ipairs(gone) do redis.call('HDEL', KEYS[2], h) end\n"
    "for _, h in ipairs(evicted) do redis.call('HDEL', KEYS[2], h) end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[5])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[5])\n"
    "return evicted\n";

/* Removes the hashes in ARGV from the index. */
static const char index_remove_lua[] =
    "for _, h in ipairs(ARGV) do\n"
    "  redis.call('ZREM', KEYS[1], h)\n"
    "  redis.call('HDEL', KEYS[2], h)\n"
    "end\n"
    "return #ARGV\n";

/* Prunes expired entries; returns hash, meta, hash, meta... */
static const char index_list_lua[] =
    "local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "for _, h in ipairs(gone) do redis.call('HDEL', KEYS[2], h) end\n"
    "local out = {}\n"
    "for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  out[#out + 1] = h\n"
    "  out[#out + 1] = redis.call('HGET', KEYS[2], h) or ''\n"
    "end\n"
    "return out\n";

#define NSCRIPTS	STORE_NSCRIPTS

static const char *const script_src[NSCRIPTS] = {
	[STORE_SCRIPT_LOAD] = load_lua,
	[STORE_SCRIPT_CAS] = cas_lua,
	[STORE_SCRIPT_INDEX_ADD] = index_add_lua,
	[STORE_SCRIPT_INDEX_REMOVE] = index_remove_lua,
	[STORE_SCRIPT_INDEX_LIST] = index_list_lua,
};

struct store {
	const struct config	*cfg;
	const struct redis_addr	*fixed;		/* NULL: ask Sentinel */
	int			 primary;	/* needs scripts, must be master */
	int			 sentinel;	/* the one that answered last */
	redisContext		*c;
	char			 sha[NSCRIPTS][41];
	int64_t			 retry_at_ms;	/* no reconnect before this */
	int			 failures;	/* connects failed in a row */
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct store *
store_new(const struct config *cfg)
{
	struct store	*s = xcalloc(1, sizeof *s);

	s->cfg = cfg;
	s->primary = 1;
	s->fixed = cfg->nsentinels > 0 ? NULL : &cfg->redis_addr;
	return s;
}

struct store *
store_new_replica(const struct config *cfg)
{
	struct store	*s;

	if (cfg->replica_addr.host == NULL && cfg->replica_addr.socket == NULL)
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->cfg = cfg;
	s->fixed = &cfg->replica_addr;
	return s;
}

/*
 * After a failed connect, the next try waits STORE_RECONNECT_MS, doubling
 * with each failure in a row up to STORE_RECONNECT_MAX_MS: a dead Redis
 * costs nothing per request, and a failover is followed within a second.
 */
static void
backoff(struct store *s)
{
	int64_t	 wait = STORE_RECONNECT_MS;
	int	 i;

	for (i = 1; i < s->failures && wait < STORE_RECONNECT_MAX_MS; i++)
		wait *= 2;
	if (wait > STORE_RECONNECT_MAX_MS)
		wait = STORE_RECONNECT_MAX_MS;
	s->retry_at_ms = now_ms() + wait;
}

static void
drop(struct store *s, const char *why)
{
	if (s->c != NULL) {
		log_event("warn", "redis connection dropped: %s", why);
		redisFree(s->c);
		s->c = NULL;
	}
	s->failures++;
	backoff(s);
}

void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	if (s->c != NULL)
		redisFree(s->c);
	free(s);
}

/* Runs a command during connection set-up; 0 when the reply is not an error. */
static int
setup_command(struct store *s, redisReply **out, int argc, const char **argv)
{
	redisReply	*r = redisCommandArgv(s->c, argc, argv, NULL);

	if (r == NULL) {
		drop(s, s->c->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		log_event("error", "redis %s: %s", argv[0], r->str);
		freeReplyObject(r);
		drop(s, "set-up command failed");
		return -1;
	}
	if (out != NULL)
		*out = r;
	else
		freeReplyObject(r);
	return 0;
}

static struct timeval
timeout_tv(const struct config *cfg)
{
	struct timeval	 tv;

	tv.tv_sec = cfg->redis_timeout_ms / 1000;
	tv.tv_usec = (cfg->redis_timeout_ms % 1000) * 1000;
	return tv;
}

static redisContext *
connect_addr(const struct config *cfg, const char *host, int port,
    const char *socket_path)
{
	struct timeval	 tv = timeout_tv(cfg);
	redisContext	*c;

	if (socket_path != NULL)
		c = redisConnectUnixWithTimeout(socket_path, tv);
	else
		c = redisConnectWithTimeout(host, port, tv);
	if (c == NULL)
		oom();
	if (c->err == 0 && redisSetTimeout(c, tv) != REDIS_OK)
		c->err = REDIS_ERR_IO;
	return c;
}

/*
 * Asks the Sentinels, starting with the one that answered last, where the
 * primary is. Returns 0 and fills host (and port), or -1 when none knows.
 */
static int
ask_sentinel(struct store *s, char *host, size_t hostsz, int *port)
{
	const struct config	*cfg = s->cfg;
	const struct redis_addr	*a;
	redisContext		*c;
	redisReply		*r;
	int			 i, k, found = 0;

	for (i = 0; i < cfg->nsentinels && !found; i++) {
		k = (s->sentinel + i) % cfg->nsentinels;
		a = &cfg->sentinel_addr[k];
		c = connect_addr(cfg, a->host, a->port, NULL);
		if (c->err) {
			redisFree(c);
			continue;
		}
		r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
		    cfg->sentinel_master);
		if (r != NULL && r->type == REDIS_REPLY_ARRAY &&
		    r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING &&
		    r->element[0]->len < hostsz) {
			memcpy(host, r->element[0]->str, r->element[0]->len + 1);
			*port = atoi(r->element[1]->str);
			found = *port > 0 && *port <= 65535;
			s->sentinel = k;
		}
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
	}
	if (!found)
		log_event("warn", "no Sentinel knows the primary \"%s\"",
		    cfg->sentinel_master);
	return found ? 0 : -1;
}

/*
 * Connects, authenticates and, for the primary, checks that the node really
 * is the primary (Sentinel may still name a node that was just demoted) and
 * loads the scripts. A failure leaves no connection and backs off.
 */
static int
connect_store(struct store *s)
{
	const struct config	*cfg = s->cfg;
	char			 host[256];
	int			 port, i;
	redisReply		*r;
	const char		*argv[3];

	if (s->c != NULL)
		return 0;
	if (now_ms() < s->retry_at_ms)
		return -1;
	if (s->fixed != NULL)
		s->c = connect_addr(cfg, s->fixed->host, s->fixed->port,
		    s->fixed->socket);
	else if (ask_sentinel(s, host, sizeof host, &port) == 0)
		s->c = connect_addr(cfg, host, port, NULL);
	else {
		s->failures++;
		backoff(s);
		return -1;
	}
	if (s->c->err) {
		log_event("warn", "redis connect failed: %s", s->c->errstr);
		redisFree(s->c);
		s->c = NULL;
		s->failures++;
		backoff(s);
		return -1;
	}
	if (cfg->redis_password[0] != '\0') {
		/* AUTH user password: an ACL user (Redis 6 and later). */
		argv[0] = "AUTH";
		argv[1] = cfg->redis_user[0] ? cfg->redis_user :
		    cfg->redis_password;
		argv[2] = cfg->redis_password;
		if (setup_command(s, NULL, cfg->redis_user[0] ? 3 : 2, argv) != 0)
			return -1;
	}
	if (!s->primary) {
		s->failures = 0;
		return 0;
	}
	if (s->fixed == NULL) {
		argv[0] = "ROLE";
		if (setup_command(s, &r, 1, argv) != 0)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    strcmp(r->element[0]->str, "master") != 0) {
			freeReplyObject(r);
			drop(s, "the node Sentinel named is not the primary");
			return -1;
		}
		freeReplyObject(r);
	}
	for (i = 0; i < NSCRIPTS; i++) {
		argv[0] = "SCRIPT";
		argv[1] = "LOAD";
		argv[2] = script_src[i];
		if (setup_command(s, &r, 3, argv) != 0)
			return -1;
		if (r->type != REDIS_REPLY_STRING || r->len != 40) {
			freeReplyObject(r);
			drop(s, "unexpected SCRIPT LOAD reply");
			return -1;
		}
		memcpy(s->sha[i], r->str, 41);
		freeReplyObject(r);
	}
	s->failures = 0;
	return 0;
}

/*
 * Sends one command and returns its reply, or NULL with the connection
 * dropped when Redis did not answer.
 *
 * A connection that sat idle may have died meanwhile (Redis restarted, a
 * failover); the first command on it finds out. An idempotent command is
 * then sent once more on a fresh connection, so a Redis restart does not
 * cost each thread a failed request. A write is not: it may have been
 * applied before the connection broke.
 */
static redisReply *
command(struct store *s, int argc, const char **argv, const size_t *lens,
    int idempotent)
{
	redisReply	*r;
	int		 reused = s->c != NULL;

	if (connect_store(s) != 0)
		return NULL;
	r = redisCommandArgv(s->c, argc, argv, lens);
	/* Only a connection found closed (not a timeout: Redis may be busy or
	 * stopped, and a second wait would double the time to answer 503). */
	if (r == NULL && reused && idempotent &&
	    (s->c->err == REDIS_ERR_EOF || (s->c->err == REDIS_ERR_IO &&
	    (errno == ECONNRESET || errno == EPIPE)))) {
		drop(s, s->c->errstr);
		s->retry_at_ms = 0;
		s->failures = 0;
		if (connect_store(s) != 0)
			return NULL;
		r = redisCommandArgv(s->c, argc, argv, lens);
	}
	if (r == NULL) {
		drop(s, s->c->errstr[0] ? s->c->errstr : "no reply");
		return NULL;
	}
	return r;
}

static redisReply *
error_reply(struct store *s, redisReply *r, const char *what)
{
	log_event("error", "redis %s: %s", what, r->str);
	freeReplyObject(r);
	/* An error can mean a failover made this node a replica; a fresh
	 * connection is the safe answer to anything unexpected. */
	drop(s, "error reply");
	return NULL;
}

/* The argument vector of one queued command, scripts as EVALSHA. */
static int
cmd_argv(struct store *s, const struct store_cmd *c, const char **argv,
    size_t *argl, int by_sha)
{
	static const char *const nkeys[] = { "0", "1", "2", "3" };
	int	 n = 0, i;

	if (c->script >= 0) {
		argv[n] = by_sha ? "EVALSHA" : "EVAL";
		argl[n++] = strlen(argv[0]);
		argv[n] = by_sha ? s->sha[c->script] : script_src[c->script];
		argl[n] = strlen(argv[n]);
		n++;
		argv[n] = nkeys[c->nkeys];
		argl[n++] = 1;
	}
	for (i = 0; i < c->argc; i++, n++) {
		argv[n] = c->argv[i];
		argl[n] = c->argl[i];
	}
	return n;
}

/*
 * Runs a script by its SHA; when Redis lost its script cache (a restart,
 * SCRIPT FLUSH), sends the source once, which caches it again.
 */
static redisReply *
script(struct store *s, const struct store_cmd *c, int idempotent)
{
	const char	*argv[STORE_MAX_ARGS + 3];
	size_t		 argl[STORE_MAX_ARGS + 3];
	redisReply	*r;
	int		 argc;

	if (connect_store(s) != 0)
		return NULL;
	argc = cmd_argv(s, c, argv, argl, 1);
	if ((r = command(s, argc, argv, argl, idempotent)) == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		argc = cmd_argv(s, c, argv, argl, 0);
		if ((r = command(s, argc, argv, argl, idempotent)) == NULL)
			return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(s, r, "script");
	return r;
}

static void
copy_value(struct arena *a, const redisReply *r, struct store_value *out)
{
	out->data = arena_memdup(a, r->str, r->len);
	out->len = r->len;
}

enum store_result
store_ping(struct store *s)
{
	const char	*argv[] = { "PING" };
	redisReply	*r = command(s, 1, argv, NULL, 1);
	int		 ok;

	if (r == NULL)
		return STORE_DOWN;
	ok = r->type == REDIS_REPLY_STATUS;
	if (!ok)
		return error_reply(s, r, "PING"), STORE_DOWN;
	freeReplyObject(r);
	return STORE_OK;
}

enum store_result
store_session_load(struct store *s, struct arena *a, const char *key,
    int64_t idle_ms, int64_t refresh_below_ms, struct store_value *out)
{
	char		 below[24], idle[24];
	struct store_cmd cmd;
	redisReply	*r;
	enum store_result rc = STORE_OK;

	snprintf(below, sizeof below, "%lld", (long long)refresh_below_ms);
	snprintf(idle, sizeof idle, "%lld", (long long)idle_ms);
	store_cmd_set(&cmd, STORE_SCRIPT_LOAD, 1, 3, key, below, idle);
	if ((r = script(s, &cmd, 1)) == NULL)
		return STORE_DOWN;
	if (r->type == REDIS_REPLY_STRING)
		copy_value(a, r, out);
	else
		rc = STORE_MISSING;
	freeReplyObject(r);
	return rc;
}

enum store_result
store_session_cas(struct store *s, struct arena *a, const char *key,
    const struct store_value *old, const void *data, size_t len,
    int64_t ttl_ms, struct store_value *cur)
{
	char		 ttl[24];
	struct store_cmd cmd;
	redisReply	*r;
	enum store_result rc;

	snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
	/* The records are binary: their lengths are set, not measured. */
	store_cmd_set(&cmd, STORE_SCRIPT_CAS, 1, 4, key, "", "", ttl);
	cmd.argv[1] = (const char *)old->data, cmd.argl[1] = old->len;
	cmd.argv[2] = data, cmd.argl[2] = len;
	if ((r = script(s, &cmd, 0)) == NULL)
		return STORE_DOWN;
	if (r->type == REDIS_REPLY_STRING) {
		copy_value(a, r, cur);
		rc = STORE_CONFLICT;
	} else if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
		rc = STORE_OK;
	else
		rc = STORE_MISSING;
	freeReplyObject(r);
	return rc;
}

enum store_result
store_del(struct store *s, const char *key)
{
	const char	*argv[] = { "DEL", key };
	redisReply	*r = command(s, 2, argv, NULL, 1);

	if (r == NULL)
		return STORE_DOWN;
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(s, r, "DEL"), STORE_DOWN;
	freeReplyObject(r);
	return STORE_OK;
}

enum store_result
store_get(struct store *s, struct arena *a, const char *key,
    struct store_value *out)
{
	const char	*argv[] = { "GET", key };
	redisReply	*r = command(s, 2, argv, NULL, 1);
	enum store_result rc = STORE_OK;

	if (r == NULL)
		return STORE_DOWN;
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(s, r, "GET"), STORE_DOWN;
	if (r->type == REDIS_REPLY_STRING)
		copy_value(a, r, out);
	else
		rc = STORE_MISSING;
	freeReplyObject(r);
	return rc;
}

static void
copy_reply(struct arena *a, const redisReply *r, struct store_reply *out)
{
	size_t	 i;

	memset(out, 0, sizeof *out);
	switch (r->type) {
	case REDIS_REPLY_INTEGER:
		out->type = STORE_REPLY_INT;
		out->integer = r->integer;
		break;
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		out->type = r->type == REDIS_REPLY_ERROR ? STORE_REPLY_ERROR :
		    STORE_REPLY_STRING;
		out->str = arena_memdup(a, r->str, r->len);
		out->len = r->len;
		break;
	case REDIS_REPLY_ARRAY:
		out->type = STORE_REPLY_ARRAY;
		out->n = r->elements;
		out->elem = arena_calloc(a, r->elements ? r->elements : 1,
		    sizeof *out->elem);
		for (i = 0; i < r->elements; i++)
			copy_reply(a, r->element[i], &out->elem[i]);
		break;
	default:
		out->type = STORE_REPLY_NIL;
	}
}

enum store_result
store_pipeline(struct store *s, struct arena *a, size_t n,
    const struct store_cmd *cmds, struct store_reply *out)
{
	const char	*argv[STORE_MAX_ARGS + 3];
	size_t		 argl[STORE_MAX_ARGS + 3], i;
	redisReply	*r;
	int		 argc, failed = 0;

	if (connect_store(s) != 0)
		return STORE_DOWN;
	for (i = 0; i < n; i++) {
		argc = cmd_argv(s, &cmds[i], argv, argl, 1);
		if (redisAppendCommandArgv(s->c, argc, argv, argl) != REDIS_OK)
			oom();
	}
	/* Read every reply, even after an error, to keep the connection in
	 * step; a script Redis forgot is sent again on its own. */
	for (i = 0; i < n; i++) {
		if (redisGetReply(s->c, (void **)&r) != REDIS_OK) {
			drop(s, s->c->errstr[0] ? s->c->errstr : "no reply");
			return STORE_DOWN;
		}
		if (r->type == REDIS_REPLY_ERROR && cmds[i].script >= 0 &&
		    strncmp(r->str, "NOSCRIPT", 8) == 0) {
			freeReplyObject(r);
			argc = cmd_argv(s, &cmds[i], argv, argl, 0);
			r = redisCommandArgv(s->c, argc, argv, argl);
			if (r == NULL) {
				drop(s, s->c->errstr);
				return STORE_DOWN;
			}
		}
		if (r->type == REDIS_REPLY_ERROR) {
			log_event("error", "redis: %s", r->str);
			failed = 1;
		}
		copy_reply(a, r, &out[i]);
		freeReplyObject(r);
	}
	if (failed) {
		drop(s, "error reply");
		return STORE_DOWN;
	}
	return STORE_OK;
}

void
store_cmd_set(struct store_cmd *c, int script, int nkeys, int argc, ...)
{
	va_list	 ap;
	int	 i;

	memset(c, 0, sizeof *c);
	c->script = script;
	c->nkeys = nkeys;
	c->argc = argc;
	va_start(ap, argc);
	for (i = 0; i < argc && i < STORE_MAX_ARGS; i++) {
		c->argv[i] = va_arg(ap, const char *);
		c->argl[i] = strlen(c->argv[i]);
	}
	va_end(ap);
}
