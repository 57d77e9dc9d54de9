/*
 * store.c - sessions and users in Redis over hiredis (see store.h).
 */
#include <errno.h>
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

enum script_id {
	SCRIPT_LOAD,
	SCRIPT_CAS,
	NSCRIPTS
};

static const char *const script_src[NSCRIPTS] = { load_lua, cas_lua };

struct store {
	const struct config	*cfg;
	redisContext		*c;
	char			 sha[NSCRIPTS][41];
	int64_t			 retry_at_ms;	/* no reconnect before this */
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
	return s;
}

static void
drop(struct store *s, const char *why)
{
	if (s->c != NULL) {
		log_event("warn", "redis connection dropped: %s", why);
		redisFree(s->c);
		s->c = NULL;
	}
	s->retry_at_ms = now_ms() + STORE_RECONNECT_MS;
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

/*
 * Connects, authenticates and loads the scripts. A failure leaves no
 * connection and blocks reconnecting for STORE_RECONNECT_MS, so while Redis
 * is down each request fails at once instead of waiting on a connect.
 */
static int
connect_store(struct store *s)
{
	const struct config	*cfg = s->cfg;
	struct timeval		 tv;
	redisReply		*r;
	const char		*argv[3];
	int			 i;

	if (s->c != NULL)
		return 0;
	if (now_ms() < s->retry_at_ms)
		return -1;
	tv.tv_sec = cfg->redis_timeout_ms / 1000;
	tv.tv_usec = (cfg->redis_timeout_ms % 1000) * 1000;
	if (cfg->redis_socket != NULL)
		s->c = redisConnectUnixWithTimeout(cfg->redis_socket, tv);
	else
		s->c = redisConnectWithTimeout(cfg->redis_host,
		    cfg->redis_port, tv);
	if (s->c == NULL)
		oom();
	if (s->c->err) {
		log_event("warn", "redis connect to %s failed: %s", cfg->redis,
		    s->c->errstr);
		redisFree(s->c);
		s->c = NULL;
		s->retry_at_ms = now_ms() + STORE_RECONNECT_MS;
		return -1;
	}
	if (redisSetTimeout(s->c, tv) != REDIS_OK) {
		drop(s, "cannot set timeout");
		return -1;
	}
	if (cfg->redis_password[0] != '\0') {
		argv[0] = "AUTH";
		argv[1] = cfg->redis_password;
		if (setup_command(s, NULL, 2, argv) != 0)
			return -1;
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
	if (r == NULL && reused && idempotent &&
	    (s->c->err == REDIS_ERR_EOF || s->c->err == REDIS_ERR_IO)) {
		drop(s, s->c->errstr);
		s->retry_at_ms = 0;
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

/*
 * Runs a script by its SHA; when Redis lost its script cache (a restart,
 * SCRIPT FLUSH), sends the source once, which caches it again.
 */
static redisReply *
script(struct store *s, enum script_id id, int nargs, const char **args,
    const size_t *lens, int idempotent)
{
	const char	*argv[8];
	size_t		 argl[8];
	redisReply	*r;
	int		 i;

	if (connect_store(s) != 0)
		return NULL;
	argv[0] = "EVALSHA";
	argv[1] = s->sha[id];
	argv[2] = "1";
	argl[0] = 7;
	argl[1] = 40;
	argl[2] = 1;
	for (i = 0; i < nargs; i++) {
		argv[3 + i] = args[i];
		argl[3 + i] = lens[i];
	}
	if ((r = command(s, 3 + nargs, argv, argl, idempotent)) == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		argv[0] = "EVAL";
		argl[0] = 4;
		argv[1] = script_src[id];
		argl[1] = strlen(script_src[id]);
		if ((r = command(s, 3 + nargs, argv, argl, idempotent)) == NULL)
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
	const char	*args[3];
	size_t		 lens[3];
	redisReply	*r;
	enum store_result rc = STORE_OK;

	snprintf(below, sizeof below, "%lld", (long long)refresh_below_ms);
	snprintf(idle, sizeof idle, "%lld", (long long)idle_ms);
	args[0] = key, lens[0] = strlen(key);
	args[1] = below, lens[1] = strlen(below);
	args[2] = idle, lens[2] = strlen(idle);
	if ((r = script(s, SCRIPT_LOAD, 3, args, lens, 1)) == NULL)
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
	const char	*args[4];
	size_t		 lens[4];
	redisReply	*r;
	enum store_result rc;

	snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
	args[0] = key, lens[0] = strlen(key);
	args[1] = (const char *)old->data, lens[1] = old->len;
	args[2] = data, lens[2] = len;
	args[3] = ttl, lens[3] = strlen(ttl);
	if ((r = script(s, SCRIPT_CAS, 4, args, lens, 0)) == NULL)
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

static enum store_result
set_nx(struct store *s, const char *key, const void *data, size_t len,
    int64_t ttl_ms)
{
	char		 ttl[24];
	const char	*argv[6] = { "SET", key, data, "NX", "PX", ttl };
	size_t		 argl[6];
	redisReply	*r;
	enum store_result rc;
	int		 argc = ttl_ms > 0 ? 6 : 4;

	snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
	argl[0] = 3, argl[1] = strlen(key), argl[2] = len, argl[3] = 2;
	argl[4] = 2, argl[5] = strlen(ttl);
	if ((r = command(s, argc, argv, argl, 0)) == NULL)
		return STORE_DOWN;
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(s, r, "SET"), STORE_DOWN;
	rc = r->type == REDIS_REPLY_STATUS ? STORE_OK : STORE_EXISTS;
	freeReplyObject(r);
	return rc;
}

enum store_result
store_session_create(struct store *s, const char *key, const void *data,
    size_t len, int64_t ttl_ms)
{
	return set_nx(s, key, data, len, ttl_ms);
}

enum store_result
store_set_nx(struct store *s, const char *key, const void *data, size_t len)
{
	return set_nx(s, key, data, len, 0);
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
