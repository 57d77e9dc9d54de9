/*
 * store.h - the Redis side of sessions and users, over one hiredis
 * connection per worker thread.
 *
 * Every operation is a single round trip. Reads of a session go through a
 * small Lua script that returns the record and, only when most of the idle
 * window has passed, pushes the TTL back out: a read-only request writes
 * nothing else. Writes are compare-and-set: the script replaces the record
 * only if it still holds exactly the bytes the worker read (the record's
 * version counter makes equal bytes mean "nobody wrote since"), never
 * recreates a record that was deleted, and on a conflict returns the current
 * record so the caller can re-apply its change without another read.
 *
 * Errors: STORE_DOWN means Redis did not answer in time, the connection
 * broke or Redis answered with an error (READONLY after a failover, say);
 * the connection is dropped and a later call reconnects, waiting longer
 * after each failure in a row (STORE_RECONNECT_MS up to
 * STORE_RECONNECT_MAX_MS), so a dead Redis costs nothing per request.
 *
 * With Sentinels configured, each connect asks them where the primary is,
 * so workers follow a failover by themselves.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct config;

#define STORE_RECONNECT_MS	125	/* first wait after a failed connect */
#define STORE_RECONNECT_MAX_MS	500	/* longest */

enum store_result {
	STORE_OK = 0,
	STORE_MISSING,		/* no such key */
	STORE_CONFLICT,		/* compare-and-set lost; *cur holds the record */
	STORE_DOWN,		/* Redis unreachable, timed out or refused */
};

struct store;

/* The primary: fixed (SHOAL_REDIS) or found through Sentinel. */
struct store	*store_new(const struct config *);
/* The replica for reads of rarely changing records; NULL if none is set. */
struct store	*store_new_replica(const struct config *);
void		 store_free(struct store *);
/* Connects if needed; STORE_OK when Redis answers PING. */
enum store_result store_ping(struct store *);

/* A value read from Redis, copied into the request's arena. */
struct store_value {
	unsigned char	*data;
	size_t		 len;
};

/*
 * Reads a session record and slides its idle TTL: when less than
 * refresh_below_ms remains, the TTL is set back to idle_ms.
 */
enum store_result store_session_load(struct store *, struct arena *,
		    const char *key, int64_t idle_ms, int64_t refresh_below_ms,
		    struct store_value *out);
/*
 * Replaces old with new if the key still holds old, with TTL ttl_ms.
 * STORE_CONFLICT: *cur is the record now stored. STORE_MISSING: the session
 * was deleted meanwhile and stays deleted.
 */
enum store_result store_session_cas(struct store *, struct arena *,
		    const char *key, const struct store_value *old,
		    const void *data, size_t len, int64_t ttl_ms,
		    struct store_value *cur);
enum store_result store_del(struct store *, const char *key);

enum store_result store_get(struct store *, struct arena *, const char *key,
		    struct store_value *out);

/*
 * Several commands in one round trip. The scripts are the ones above plus
 * those of the per-user session index (see store.c).
 */
enum store_script {
	STORE_SCRIPT_LOAD,
	STORE_SCRIPT_CAS,
	STORE_SCRIPT_INDEX_ADD,
	STORE_SCRIPT_INDEX_REMOVE,
	STORE_SCRIPT_INDEX_LIST,
	STORE_NSCRIPTS
};

#define STORE_MAX_ARGS	10

struct store_cmd {
	int		 script;	/* enum store_script, or -1: a command */
	int		 nkeys;		/* scripts: how many argv are keys */
	int		 argc;
	const char	*argv[STORE_MAX_ARGS];
	size_t		 argl[STORE_MAX_ARGS];
};

/* A reply, copied into the request's arena. */
struct store_reply {
	enum {
		STORE_REPLY_NIL,
		STORE_REPLY_INT,
		STORE_REPLY_STRING,
		STORE_REPLY_ARRAY,
		STORE_REPLY_ERROR,
	}			 type;
	long long		 integer;
	char			*str;		/* NUL-terminated copy */
	size_t			 len;
	size_t			 n;
	struct store_reply	*elem;
};

/* Fills c with argc NUL-terminated arguments (script -1: argv[0] is the
 * command name). */
void	store_cmd_set(struct store_cmd *c, int script, int nkeys, int argc, ...);
/* Sends n commands, then reads n replies into out. STORE_DOWN when Redis
 * did not answer or any reply is an error (logged). */
enum store_result store_pipeline(struct store *, struct arena *, size_t n,
		    const struct store_cmd *cmds, struct store_reply *out);

#endif
