/*
 * cluster_map.h - which Redis Cluster node serves each hash slot: the map
 * a worker thread keeps, filled from CLUSTER SLOTS and corrected by the
 * MOVED redirects nodes answer (the cluster specification's client side).
 *
 * A map is plain data, built and read by one thread. Nodes are known by
 * host and port; SHOAL_REDIS_ALLOWED, when set, limits which addresses a
 * node may announce (the map or a redirect naming any other is ignored,
 * so a node that lies cannot send the workers' password elsewhere).
 */
#ifndef CLUSTER_MAP_H
#define CLUSTER_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "slot.h"

struct redisReply;

#define CLUSTER_NODES_MAX	64	/* primaries; more is refused */
#define CLUSTER_HOST_MAX	256
#define CLUSTER_NO_NODE		0xff

struct cluster_node {
	char	 host[CLUSTER_HOST_MAX];
	int	 port;
};

struct cluster_map {
	int			 n;
	struct cluster_node	 node[CLUSTER_NODES_MAX];
	uint8_t			 owner[SLOT_COUNT];	/* node index, or
							 * CLUSTER_NO_NODE */
};

void	cluster_map_clear(struct cluster_map *);
/*
 * The index of host:port in the map, added when new; -1 when the map is
 * full or allowed ("" for any) does not list host.
 */
int	cluster_map_node(struct cluster_map *, const char *host, int port,
	    const char *allowed);
/*
 * Fills the map from a CLUSTER SLOTS reply. A node announced with an empty
 * host is asked_host (the one the reply came from). Returns how many slots
 * are served, or -1 with one line in err for a reply of the wrong shape;
 * a primary that allowed does not list is left out and named in err.
 */
int	cluster_map_parse(struct cluster_map *, const struct redisReply *,
	    const char *asked_host, const char *allowed, char *err,
	    size_t errsz);

enum cluster_redirect {
	CLUSTER_NOT_REDIRECT = 0,
	CLUSTER_MOVED,		/* the slot lives there now: update the map */
	CLUSTER_ASK,		/* this once, with ASKING first */
};

/*
 * Reads "MOVED 3999 host:port" or "ASK 3999 host:port" (an empty host is
 * asked_host). Anything else, or a redirect that does not parse, is
 * CLUSTER_NOT_REDIRECT.
 */
enum cluster_redirect cluster_redirect(const char *error,
	    const char *asked_host, unsigned *slot, char *host,
	    size_t hostsz, int *port);

#endif
