/*
 * redis_cluster.c - a batch across a Redis Cluster (SHOAL_REDIS_CLUSTER),
 * as the cluster specification asks of a client:
 *
 *  - The slot map comes from CLUSTER SLOTS, asked of a node this thread
 *    already knows, else of the seed nodes in their order. It is asked
 *    again before the next batch after anything that says it is out of
 *    date (MOVED, CLUSTERDOWN, a node that does not answer), at most every
 *    CLUSTER_REFRESH_MS.
 *  - Each command goes to the node serving its key's slot; the commands of
 *    a batch bound for one node go in one write, so a session read, one
 *    key, stays one round trip. A batch whose keys live on several nodes
 *    (revoking a user's sessions) is sent node by node.
 *  - MOVED: the slot is served elsewhere now; the map is corrected and the
 *    command sent there. ASK: the slot is moving and this key has gone
 *    ahead; the command is sent there once, after ASKING. TRYAGAIN (a
 *    script's keys are split between two nodes for a moment) or a node
 *    that has not heard yet who serves a slot: sent again after a short
 *    pause, on the map read again. Redis has run none of these commands, so
 *    sending them again is safe for writes too. At most CLUSTER_RETRIES
 *    rounds, then the error is the caller's (503).
 *  - Connections are per node, opened when a command first needs one; a
 *    node the new map no longer names is closed and forgotten.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>

#include "arena.h"
#include "config.h"
#include "log.h"
#include "oom.h"
#include "redis_link.h"

#define CLUSTER_REFRESH_MS	100	/* at most one CLUSTER SLOTS this often */
#define CLUSTER_RETRIES		5	/* redirect rounds per batch */
#define CLUSTER_TRYAGAIN_MS	20	/* first pause after TRYAGAIN, doubled */

struct cluster {
	struct cluster_map	 map;
	struct cluster_map	 next;		/* a refresh is read into it */
	struct link		 link[CLUSTER_NODES_MAX];	/* by node */
	struct link		 fresh[CLUSTER_NODES_MAX];
	struct link		 seed;		/* asking a seed, then closed */
	int			 stale;
	int64_t			 refreshed_at_ms;
};

struct cluster *
cluster_new(void)
{
	struct cluster	*cl = xcalloc(1, sizeof *cl);

	cluster_map_clear(&cl->map);
	cl->stale = 1;
	return cl;
}

void
cluster_free(struct cluster *cl)
{
	int	 i;

	if (cl == NULL)
		return;
	for (i = 0; i < cl->map.n; i++)
		link_close(&cl->link[i]);
	link_close(&cl->seed);
	free(cl);
}

static void
link_for(struct link *restrict l, const struct cluster_node *restrict n)
{
	memset(l, 0, sizeof *l);
	memcpy(l->host, n->host, sizeof l->host);	/* both NUL-ended */
	l->port = n->port;
}

/* The node index of host:port, with a link ready for it; -1 when the map
 * is full or SHOAL_REDIS_ALLOWED does not list host. */
static int
node_index(struct redis *s, const char *host, int port)
{
	struct cluster	*cl = s->cluster;
	int		 before = cl->map.n, k;

	k = cluster_map_node(&cl->map, host, port, s->cfg->redis_allowed);
	if (k >= 0 && k == before)
		link_for(&cl->link[k], &cl->map.node[k]);
	return k;
}

/* Takes cl->next as the map; links to nodes in both are kept, the others
 * closed. */
static void
adopt(struct cluster *cl)
{
	int	 i, j;
	char	 kept[CLUSTER_NODES_MAX] = { 0 };

	for (j = 0; j < cl->next.n; j++) {
		link_for(&cl->fresh[j], &cl->next.node[j]);
		for (i = 0; i < cl->map.n; i++) {
			if (!kept[i] && cl->link[i].port == cl->fresh[j].port &&
			    strcmp(cl->link[i].host, cl->fresh[j].host) == 0) {
				cl->fresh[j] = cl->link[i];
				kept[i] = 1;
				break;
			}
		}
	}
	for (i = 0; i < cl->map.n; i++)
		if (!kept[i])
			link_close(&cl->link[i]);
	memcpy(cl->link, cl->fresh, (size_t)cl->next.n * sizeof cl->link[0]);
	cl->map = cl->next;
}

/* Asks one link for CLUSTER SLOTS; 1 when the map was taken from it. why
 * keeps what was wrong with an answer that was not. */
static int
ask(struct redis *s, struct link *l, char *why, size_t whysz)
{
	const char	*argv[] = { "CLUSTER", "SLOTS" };
	struct cluster	*cl = s->cluster;
	redisReply	*r;
	char		 err[REDIS_ERRSTR_MAX];
	int		 served;

	if (l->c == NULL && redis_now_ms() < l->retry_at_ms)
		return 0;
	if ((r = link_command(s, l, 2, argv)) == NULL)
		return 0;
	served = cluster_map_parse(&cl->next, r, l->host,
	    s->cfg->redis_allowed, err, sizeof err);
	freeReplyObject(r);
	if (err[0] != '\0')
		log_event("warn", "redis cluster map from %s:%d: %s", l->host,
		    l->port, err);
	if (served <= 0) {
		snprintf(why, whysz, "%.64s:%d: %.80s", l->host, l->port,
		    err[0] ? err : "no slot served");
		return 0;
	}
	if (served < SLOT_COUNT)
		log_event("warn", "redis cluster map from %s:%d: %d of %d "
		    "slots served", l->host, l->port, served, SLOT_COUNT);
	adopt(cl);
	return 1;
}

static int
known(const struct cluster *cl, const char *host, int port)
{
	int	 i;

	for (i = 0; i < cl->map.n; i++)
		if (cl->map.node[i].port == port &&
		    strcmp(cl->map.node[i].host, host) == 0)
			return 1;
	return 0;
}

/*
 * A fresh slot map, from the nodes known, then the seeds; the first that
 * answers gives it. -1 when none did and no map is known yet, or when one
 * timed out.
 */
static int
refresh(struct redis *s)
{
	struct cluster		*cl = s->cluster;
	const struct redis_addr	*a;
	int64_t			 now = redis_now_ms();
	int			 i, n = cl->map.n;
	char			 why[REDIS_ERRSTR_MAX] = "", line[REDIS_ERRSTR_MAX];

	if (cl->map.n > 0 && now < cl->refreshed_at_ms + CLUSTER_REFRESH_MS)
		return 0;
	cl->refreshed_at_ms = now;
	for (i = 0; i < n && i < cl->map.n; i++) {
		if (ask(s, &cl->link[i], why, sizeof why))
			goto done;
		if (s->fault == REDIS_FAULT_TIMEOUT)
			goto hangs;
	}
	for (i = 0; i < s->cfg->ncluster_seeds; i++) {
		a = &s->cfg->cluster_seed[i];
		if (known(cl, a->host, a->port))
			continue;	/* asked above */
		memset(&cl->seed, 0, sizeof cl->seed);
		snprintf(cl->seed.host, sizeof cl->seed.host, "%s", a->host);
		cl->seed.port = a->port;
		if (ask(s, &cl->seed, why, sizeof why)) {
			link_close(&cl->seed);
			goto done;
		}
		link_close(&cl->seed);
		if (s->fault == REDIS_FAULT_TIMEOUT)
			goto hangs;
	}
	if (why[0] != '\0')
		snprintf(line, sizeof line, "no usable CLUSTER SLOTS answer "
		    "(%.100s)", why);
	else
		snprintf(line, sizeof line, "no cluster node answered CLUSTER "
		    "SLOTS");
	redis_set_fault(s, REDIS_FAULT_CONNECT, line);
	return cl->map.n > 0 ? 0 : -1;
hangs:
	/*
	 * A node that accepts and then says nothing: the others may well hang
	 * too (a host paused), and asking each in turn would multiply the
	 * wait past the front's patience. This request gets its 503 now.
	 */
	return -1;
done:
	cl->stale = 0;
	return 0;
}

/* The node serving c's key; a command without a key (PING) goes to the
 * node serving slot 0. */
static int
route(const struct cluster *cl, const struct redis_cmd *c)
{
	const char	*key = NULL;
	size_t		 len = 0;

	if (c->script >= 0 && c->nkeys > 0) {
		key = c->argv[0];
		len = c->argl[0];
	} else if (c->script < 0 && c->argc >= 2) {
		key = c->argv[1];
		len = c->argl[1];
	}
	return cl->map.owner[key ? slot_of_key(key, len) : 0];
}

static int
send_to(struct redis *s, int node, struct redis_batch *b, const size_t *idx,
    size_t n, int asking)
{
	if (link_run(s, &s->cluster->link[node], b, idx, n, asking) != 0) {
		/* It may have failed over: ask where the slots are now. */
		s->cluster->stale = 1;
		return -1;
	}
	s->last = &s->cluster->link[node];
	return 0;
}

static void
pause_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* node[k] for every command from the map; -1 when a slot has no node. */
static int
route_all(struct redis *s, struct redis_batch *b, int *node)
{
	size_t	 i;

	for (i = 0; i < b->n; i++) {
		node[i] = route(s->cluster, &b->cmd[i]);
		if (node[i] == CLUSTER_NO_NODE) {
			redis_set_fault(s, REDIS_FAULT_ERROR, "CLUSTERDOWN no "
			    "node is known to serve the slot");
			s->cluster->stale = 1;
			return -1;
		}
	}
	return 0;
}

/*
 * After a node could not be reached (nothing was sent to it): 1 when the
 * map, read again, names another node for the command at, which is then
 * where node[] sends it. A replica promoted after its primary died is
 * found here, by the first request that meets the dead node.
 */
static int
served_elsewhere(struct redis *s, struct redis_batch *b, int *node, size_t at)
{
	struct cluster		*cl = s->cluster;
	struct cluster_node	 was = cl->map.node[node[at]];
	enum redis_fault	 f = s->fault;
	char			 why[REDIS_ERRSTR_MAX];

	if (f != REDIS_FAULT_CONNECT && f != REDIS_FAULT_BACKOFF)
		return 0;	/* a timeout: it may have run */
	snprintf(why, sizeof why, "%s", s->errstr);
	cl->stale = 1;
	if (refresh(s) != 0 || route_all(s, b, node) != 0)
		return 0;
	if (cl->map.node[node[at]].port == was.port &&
	    strcmp(cl->map.node[node[at]].host, was.host) == 0) {
		redis_set_fault(s, f, why);
		return 0;
	}
	return 1;
}

/* Every command once, one write per node, in the order of first use. */
static int
send_all(struct redis *s, struct redis_batch *b, int *node)
{
	size_t	*idx = arena_alloc(b->arena, b->n * sizeof *idx), i, j, n;
	char	*sent = arena_calloc(b->arena, b->n, 1);
	int	 again = 1;

	if (route_all(s, b, node) != 0)
		return -1;
	for (i = 0; i < b->n; ) {
		if (sent[i]) {
			i++;
			continue;
		}
		for (n = 0, j = i; j < b->n; j++) {
			if (!sent[j] && node[j] == node[i]) {
				idx[n++] = j;
				sent[j] = 1;
			}
		}
		if (send_to(s, node[i], b, idx, n, 0) == 0) {
			i++;
			continue;
		}
		if (!again || !served_elsewhere(s, b, node, i))
			return -1;
		/* Once a batch: grouped again from i, by the map read again. */
		again = 0;
		for (j = 0; j < n; j++)
			sent[idx[j]] = 0;
	}
	return 0;
}

/*
 * "Not yet": TRYAGAIN (a script's keys split between two nodes for a
 * moment), or a node that does not know yet who serves a slot that just
 * moved (CLUSTERDOWN Hash slot not served, while slots are being moved
 * and the nodes have not all heard). A whole cluster down is not one of
 * them: retrying would only make the 503 later.
 */
static int
is_not_yet(const struct redis_value *v)
{
	return v->type == REDIS_VALUE_ERROR &&
	    (strncmp(v->str, "TRYAGAIN", 8) == 0 ||
	    strcmp(v->str, "CLUSTERDOWN Hash slot not served") == 0);
}

/* Follows the redirects among the replies; 1 when it sent anything. */
static int
follow(struct redis *s, struct redis_batch *b, int *node, int round, int *rc)
{
	struct cluster		*cl = s->cluster;
	const struct redis_value *v;
	enum cluster_redirect	 kind;
	char			 host[CLUSTER_HOST_MAX], why[REDIS_ERRSTR_MAX];
	unsigned		 slot;
	size_t			 i;
	int			 port, j, k, again = 0;

	*rc = 0;
	for (i = 0; i < b->n; i++) {
		if (is_not_yet(&b->reply[i])) {
			/* One pause for the round, however many asked; then the
			 * map again (at most every CLUSTER_REFRESH_MS), and every
			 * command's node from it. */
			pause_ms(CLUSTER_TRYAGAIN_MS << round);
			cl->stale = 1;
			if (refresh(s) == 0)
				for (k = 0; k < (int)b->n; k++)
					if ((j = route(cl, &b->cmd[k])) !=
					    CLUSTER_NO_NODE)
						node[k] = j;
			break;
		}
	}
	for (i = 0; i < b->n; i++) {
		v = &b->reply[i];
		if (v->type != REDIS_VALUE_ERROR)
			continue;
		if (is_not_yet(v)) {
			k = route(cl, &b->cmd[i]);
			if (k == CLUSTER_NO_NODE)
				continue;
			node[i] = k;
			kind = CLUSTER_NOT_REDIRECT;
		} else {
			kind = cluster_redirect(v->str, cl->map.node[node[i]].host,
			    &slot, host, sizeof host, &port);
			if (kind == CLUSTER_NOT_REDIRECT)
				continue;
			if ((k = node_index(s, host, port)) < 0) {
				snprintf(why, sizeof why, "redirected to %.100s:%d, "
				    "which is not an allowed node", host, port);
				redis_set_fault(s, REDIS_FAULT_ERROR, why);
				*rc = -1;
				return 0;
			}
			if (kind == CLUSTER_MOVED) {
				cl->map.owner[slot] = (uint8_t)k;
				cl->stale = 1;
			}
			node[i] = k;
		}
		if (send_to(s, node[i], b, &i, 1, kind == CLUSTER_ASK) != 0) {
			*rc = -1;
			return 0;
		}
		again = 1;
	}
	return again;
}

int
cluster_run(struct redis *s, struct redis_batch *b)
{
	struct cluster	*cl = s->cluster;
	int		*node, round, rc;
	size_t		 i;

	if (cl->stale && refresh(s) != 0)
		return -1;
	node = arena_alloc(b->arena, b->n * sizeof *node);
	if (send_all(s, b, node) != 0)
		return -1;
	for (round = 0; round < CLUSTER_RETRIES; round++) {
		if (!follow(s, b, node, round, &rc))
			break;
	}
	if (rc != 0)
		return -1;
	for (i = 0; i < b->n; i++) {
		if (b->reply[i].type == REDIS_VALUE_ERROR) {
			redis_set_fault(s, REDIS_FAULT_ERROR, b->reply[i].str);
			/* CLUSTERDOWN, a MOVED still after the retries... */
			cl->stale = 1;
			return -1;
		}
	}
	return 0;
}
