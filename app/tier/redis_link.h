/*
 * redis_link.h - inside the Redis layer (redis.c, redis_link.c,
 * redis_cluster.c), not for its callers: one connection to one node and
 * what the executor keeps per thread.
 *
 * A link is the connection to one node, with its own reconnect backoff. A
 * thread has one link to the primary (SHOAL_REDIS, or the one Sentinel
 * names), or with SHOAL_REDIS_CLUSTER one per cluster node it has used,
 * opened when first needed.
 */
#ifndef REDIS_LINK_H
#define REDIS_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "cluster_map.h"
#include "redis.h"
#include "scripts.h"

#define REDIS_SCRIPT_KEYS_MAX	4
#define SCRIPT_HEAD		3	/* room for EVALSHA sha nkeys in front
					 * of a script's arguments */

struct link {
	char		 host[CLUSTER_HOST_MAX];	/* "": the primary */
	int		 port;
	struct redisContext *c;
	int64_t		 retry_at_ms;	/* no reconnect before this */
	int		 failures;	/* connects failed in a row */
};

struct redis {
	const struct config	*cfg;
	const struct redis_addr	*fixed;		/* NULL: ask the Sentinels */
	int			 sentinel;	/* the one that answered last */
	struct link		 primary;	/* without a cluster */
	struct cluster		*cluster;	/* NULL without one */
	struct redis_share	*share;		/* NULL: primary is its own */
	struct link		*last;		/* the last batch's replies
						 * came from it */
	char			 sha[NSCRIPTS][41];
	enum redis_fault	 fault;
	char			 errstr[REDIS_ERRSTR_MAX];
};

int64_t	redis_now_ms(void);
/* An error reply that says "not now" rather than "never" (READONLY,
 * LOADING...): the node may serve again, or another node now does. */
int	redis_error_transient(const char *);
void	redis_set_fault(struct redis *, enum redis_fault, const char *why);

/* Closes the link's connection (if any) and backs off its next connect. */
void	link_drop(struct link *, const char *why);
/* The same for a connection that broke under a working node: the next
 * connect is tried at once. */
void	link_drop_now(struct link *, const char *why);
void	link_close(struct link *);
/*
 * Sends b's commands idx[0..n-1] (all of them when idx is NULL) on the
 * link, connecting first, and reads their replies into b->reply; with
 * asking, each goes after an ASKING (a cluster's ASK redirect). A broken
 * idle connection is replaced, and an idempotent batch sent again once
 * (redis.h). 0 when every reply came (error replies included), -1 with
 * the fault set and the connection dropped.
 */
int	link_run(struct redis *, struct link *, struct redis_batch *,
	    const size_t *idx, size_t n, int asking);
/*
 * Several callers' batches in one exchange: every command of every batch
 * in one write, the replies read in that order, each into its own batch
 * (and its own arena). done[j] is 1 for each batch whose replies all came
 * (error replies included), 0 for the others, which failed with the fault
 * in s. A broken idle connection is replaced and the idempotent batches
 * not yet answered sent again once, as link_run does. Returns how many
 * are done.
 */
size_t	link_run_many(struct redis *, struct link *, struct redis_batch **,
	    size_t nb, int *done);
/* One command while no batch is in flight (CLUSTER SLOTS): a reply that is
 * not an error, or NULL with the fault set; connects first. */
struct redisReply *link_command(struct redis *, struct link *, int argc,
	    const char **argv);

/* redis_share.c: runs b[0..n-1] in the share's next write (n at most
 * REDIS_EACH_MAX), each with its own outcome in rc[i]; the fault of b[0],
 * if it failed, in s. */
void	redis_share_run_each(struct redis_share *, struct redis *,
	    struct redis_batch **, size_t n, int *rc);
/* Drops the shared connection before its next write (an unusable reply). */
void	redis_share_drop(struct redis_share *);

/* redis_cluster.c */
struct cluster *cluster_new(void);
void	cluster_free(struct cluster *);
int	cluster_run(struct redis *, struct redis_batch *);

#endif
