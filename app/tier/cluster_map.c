/*
 * cluster_map.c - the slot map (see cluster_map.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "cluster_map.h"
#include "net.h"

void
cluster_map_clear(struct cluster_map *m)
{
	m->n = 0;
	memset(m->owner, CLUSTER_NO_NODE, sizeof m->owner);
}

int
cluster_map_node(struct cluster_map *m, const char *host, int port,
    const char *allowed)
{
	int	 i;

	for (i = 0; i < m->n; i++)
		if (m->node[i].port == port &&
		    strcmp(m->node[i].host, host) == 0)
			return i;
	if (m->n == CLUSTER_NODES_MAX || strlen(host) >= CLUSTER_HOST_MAX ||
	    host[0] == '\0' || port < 1 || port > 65535)
		return -1;
	if (allowed[0] != '\0' && !net_in_list(allowed, host))
		return -1;
	snprintf(m->node[m->n].host, CLUSTER_HOST_MAX, "%s", host);
	m->node[m->n].port = port;
	return m->n++;
}

static int
is_int(const redisReply *v, long long lo, long long hi)
{
	return v->type == REDIS_REPLY_INTEGER && v->integer >= lo &&
	    v->integer <= hi;
}

/*
 * One entry: [first slot, last slot, [host, port, id, ...] of the primary,
 * then its replicas]. 0 with the range and primary filled, -1 for a shape
 * that is not that.
 */
static int
parse_range(const redisReply *e, unsigned *first, unsigned *last,
    const char **host, int *port)
{
	const redisReply *p;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
	    !is_int(e->element[0], 0, SLOT_COUNT - 1) ||
	    !is_int(e->element[1], e->element[0]->integer, SLOT_COUNT - 1))
		return -1;
	p = e->element[2];
	if (p->type != REDIS_REPLY_ARRAY || p->elements < 2 ||
	    p->element[0]->type != REDIS_REPLY_STRING ||
	    !is_int(p->element[1], 1, 65535))
		return -1;
	*first = (unsigned)e->element[0]->integer;
	*last = (unsigned)e->element[1]->integer;
	*host = p->element[0]->str;
	*port = (int)p->element[1]->integer;
	return 0;
}

int
cluster_map_parse(struct cluster_map *m, const struct redisReply *v,
    const char *asked_host, const char *allowed, char *err, size_t errsz)
{
	const char	*host;
	unsigned	 first, last, s;
	size_t		 i;
	int		 port, k, served = 0;

	cluster_map_clear(m);
	err[0] = '\0';
	if (v->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errsz, "CLUSTER SLOTS: not an array");
		return -1;
	}
	for (i = 0; i < v->elements; i++) {
		if (parse_range(v->element[i], &first, &last, &host, &port) != 0) {
			snprintf(err, errsz, "CLUSTER SLOTS: entry %zu is not "
			    "[first, last, [host, port, ...], ...]", i);
			return -1;
		}
		/* "?" is a node whose address its peers do not know yet. */
		if (strcmp(host, "?") == 0)
			continue;
		if (host[0] == '\0')
			host = asked_host;
		if ((k = cluster_map_node(m, host, port, allowed)) < 0) {
			if (err[0] == '\0')	/* the first one left out */
				snprintf(err, errsz, "CLUSTER SLOTS: primary "
				    "%s:%d left out (%s)", host, port,
				    m->n == CLUSTER_NODES_MAX ?
				    "too many nodes" :
				    "not in SHOAL_REDIS_ALLOWED");
			continue;
		}
		for (s = first; s <= last; s++) {
			if (m->owner[s] == CLUSTER_NO_NODE)
				served++;
			m->owner[s] = (uint8_t)k;
		}
	}
	return served;
}

enum cluster_redirect
cluster_redirect(const char *e, const char *asked_host, unsigned *slot,
    char *host, size_t hostsz, int *port)
{
	enum cluster_redirect	 kind;
	const char		*p, *colon;
	char			*end;
	unsigned long		 s;
	long			 n;
	size_t			 len;

	if (strncmp(e, "MOVED ", 6) == 0) {
		kind = CLUSTER_MOVED;
		p = e + 6;
	} else if (strncmp(e, "ASK ", 4) == 0) {
		kind = CLUSTER_ASK;
		p = e + 4;
	} else
		return CLUSTER_NOT_REDIRECT;
	if (*p < '0' || *p > '9')
		return CLUSTER_NOT_REDIRECT;
	s = strtoul(p, &end, 10);
	if (s >= SLOT_COUNT || *end != ' ')
		return CLUSTER_NOT_REDIRECT;
	p = end + 1;
	/* The port follows the last ':' (an IPv6 address holds others). */
	if ((colon = strrchr(p, ':')) == NULL || colon[1] < '0' ||
	    colon[1] > '9')
		return CLUSTER_NOT_REDIRECT;
	n = strtol(colon + 1, &end, 10);
	if (*end != '\0' || n < 1 || n > 65535)
		return CLUSTER_NOT_REDIRECT;
	len = (size_t)(colon - p);
	if (len == 0) {
		p = asked_host;
		len = strlen(p);
	}
	if (len == 0 || len >= hostsz)
		return CLUSTER_NOT_REDIRECT;
	memcpy(host, p, len);
	host[len] = '\0';
	*slot = (unsigned)s;
	*port = (int)n;
	return kind;
}
