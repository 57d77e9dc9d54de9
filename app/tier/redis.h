/*
 * redis.h - shoal's one way to talk to Redis: a connection owned by one
 * thread, or shared by a process's threads (redis_share_new), and one
 * executor for a batch of commands (a single command is a batch of one),
 * sent in one write and answered in one round trip.
 *
 * The callers (session.c, index.c, users.c, throttle.c) build a batch with
 * the typed calls below and in scripts.h, over key names from keys.h; none
 * of them spells a command or a key. What the executor guarantees:
 *
 *  - A connection Redis closed while it sat idle (a restart, a failover) is
 *    noticed before anything is sent on it and replaced at once, so the
 *    first request after a restart succeeds whatever it writes.
 *  - A connection found closed while a batch is in flight is replaced and
 *    the batch sent once more only if the batch is idempotent: a write may
 *    have been applied before the connection broke. A timeout is never
 *    retried (Redis may be busy or stopped; a second wait would double the
 *    time to answer 503).
 *  - A script Redis has forgotten (a restart, SCRIPT FLUSH) is answered
 *    NOSCRIPT; once every reply of the batch is read, the failed scripts
 *    alone are sent again with their source (EVAL, which caches them
 *    again), in their order, and their replies take the place of the
 *    errors. They then run after the batch's other commands.
 *  - Any other error reply fails the batch. A thread's own connection is
 *    then dropped; a shared one only for an error that means the node
 *    cannot serve anyone now (READONLY after a failover, LOADING), so one
 *    request's WRONGTYPE does not cost the others their connection.
 *
 * After a failed connect the next one waits REDIS_RECONNECT_MS, doubling
 * with each failure in a row up to REDIS_RECONNECT_MAX_MS: a dead Redis
 * costs nothing per request and a failover is followed within a second.
 * With Sentinels configured, each connect asks them where the primary is
 * (sentinel.c).
 *
 * A failure keeps its reason in the connection (redis_fault, redis_errstr),
 * as hiredis keeps err/errstr; redis_status() maps it to a shoal_status and
 * logs it, once.
 */
#ifndef REDIS_H
#define REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

struct arena;
struct config;
struct redis_key;
struct redis_addr;
struct redisContext;

#define REDIS_RECONNECT_MS	125	/* first wait after a failed connect */
#define REDIS_RECONNECT_MAX_MS	500	/* longest */
#define REDIS_ERRSTR_MAX	160

enum redis_fault {
	REDIS_FAULT_NONE = 0,
	REDIS_FAULT_CONNECT,	/* connect, AUTH, ROLE or SCRIPT LOAD failed */
	REDIS_FAULT_BACKOFF,	/* waiting to reconnect (already logged) */
	REDIS_FAULT_TIMEOUT,	/* no answer within SHOAL_REDIS_TIMEOUT_MS */
	REDIS_FAULT_CLOSED,	/* the connection was closed under us */
	REDIS_FAULT_IO,		/* any other socket error */
	REDIS_FAULT_ERROR,	/* Redis answered an error (READONLY, NOPERM...) */
	REDIS_FAULT_REPLY,	/* a reply the caller cannot use */
};

struct redis;
struct redis_share;

/* The primary: fixed (SHOAL_REDIS) or found through Sentinel. */
struct redis	*redis_new(const struct config *);
void		 redis_free(struct redis *);

/*
 * One connection to the primary for all the threads of a process
 * (SHOAL_REDIS_BATCH): each thread keeps its own struct redis, and
 * redis_share_with() makes its batches go out on the shared connection,
 * together with whatever batches the other threads have ready at that
 * moment, in one write (redis_share.c). Not for a cluster, whose threads
 * keep their own connections to each node.
 */
struct redis_share *redis_share_new(const struct config *);
void		 redis_share_free(struct redis_share *);
void		 redis_share_with(struct redis *, struct redis_share *);

enum redis_fault redis_fault(const struct redis *);
const char	*redis_errstr(const struct redis *);
/*
 * The status a caller answers with, after a failed redis_run or a reply it
 * could not use: SHOAL_UNAVAILABLE when Redis is down, busy, loading or
 * read-only (try again), SHOAL_INTERNAL when it said something it never
 * should (NOPERM: the ACL is wrong; WRONGTYPE; a reply of the wrong shape).
 * Logs op and the reason as one line, except while backing off.
 */
enum shoal_status redis_status(struct redis *, const char *op);
/* Marks a reply the caller cannot use (REDIS_FAULT_REPLY) and drops the
 * connection; returns redis_status(r, op). */
enum shoal_status redis_bad_reply(struct redis *, const char *op,
		    const char *what);

/* A reply, copied into the batch's arena. Status replies are strings. */
struct redis_value {
	enum {
		REDIS_VALUE_NIL,
		REDIS_VALUE_INT,
		REDIS_VALUE_STRING,
		REDIS_VALUE_ARRAY,
		REDIS_VALUE_ERROR,
	}			 type;
	long long		 integer;
	char			*str;		/* NUL-terminated copy */
	size_t			 len;
	size_t			 n;		/* ARRAY */
	struct redis_value	*elem;
};

struct redis_cmd {
	int		 script;	/* enum script_id, or -1: a command */
	int		 nkeys;		/* scripts: how many args are keys */
	int		 argc;
	const char	**argv;		/* a command: argv[0] is its name */
	size_t		*argl;
};

/*
 * Commands to send together, and their replies. Everything lives in the
 * arena, so a batch needs no freeing. idempotent: every command may run
 * twice with the same effect (reads, DEL, a TTL slide), which lets the
 * executor send it again on a fresh connection.
 */
struct redis_batch {
	struct arena		*arena;
	int			 idempotent;
	size_t			 n;
	size_t			 cap;
	struct redis_cmd	*cmd;
	struct redis_value	*reply;		/* n of them, after redis_run */
};

void	redis_batch_init(struct redis_batch *, struct arena *, int idempotent);
/* Adds a command of argc arguments (filled by redis_arg) and returns its
 * index, which is also the index of its reply. For scripts.c and tests. */
size_t	redis_batch_add(struct redis_batch *, int script, int nkeys, int argc);
void	redis_arg(struct redis_batch *, size_t cmd, int i, const void *,
	    size_t len);
/* A number as an argument, formatted into the arena. */
void	redis_arg_int(struct redis_batch *, size_t cmd, int i, long long);

enum redis_set_when {
	REDIS_SET_ALWAYS,
	REDIS_SET_IF_NEW,	/* NX */
	REDIS_SET_IF_EXISTS,	/* XX */
};

/* The commands shoal sends outside its scripts. Each returns the index of
 * its reply. */
size_t	redis_ping(struct redis_batch *);
size_t	redis_get(struct redis_batch *, const struct redis_key *);
size_t	redis_pttl(struct redis_batch *, const struct redis_key *);
size_t	redis_del(struct redis_batch *, const struct redis_key *);
/* SET key value [NX|XX] [PX ttl_ms]; ttl_ms 0: no expiry. */
size_t	redis_set(struct redis_batch *, const struct redis_key *, const void *,
	    size_t len, enum redis_set_when, int64_t ttl_ms);

/*
 * Sends the batch and reads every reply into b->reply. 0 when every reply
 * came and none is an error; -1 with the reason in the connection.
 */
int	redis_run(struct redis *, struct redis_batch *)
	    __attribute__((warn_unused_result));

/*
 * Several batches in one write, each with its own outcome: rc[i] is 0 when
 * every reply of b[i] came and none is an error. For a request that loads,
 * with its own batch b[0], what the requests waiting behind it will need
 * (session.c): one's error does not fail the others. Only on a connection
 * made with redis_share_with(); -1 at once otherwise (a cluster), or when
 * n exceeds REDIS_EACH_MAX. Returns 0 when every batch succeeded; the
 * fault of b[0], if it failed, is the connection's.
 */
#define REDIS_EACH_MAX	32
int	redis_run_each(struct redis *, struct redis_batch **b, size_t n,
	    int *rc);
/* Whether redis_run_each() can run on this connection. */
int	redis_runs_each(const struct redis *);

/* A connection to one address with the configured timeouts (never NULL;
 * check ->err). For sentinel.c. */
struct redisContext *redis_dial(const struct config *, const char *host,
	    int port, const char *socket_path);

#endif
