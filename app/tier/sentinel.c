/*
 * sentinel.c - primary discovery through Sentinel (see sentinel.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "config.h"
#include "log.h"
#include "redis.h"
#include "sentinel.h"

/* 0 when r is [host, port] with a usable port; fills host and port. */
static int
parse_addr(const redisReply *r, char *host, size_t hostsz, int *port)
{
	long	 p;
	char	*end;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len == 0 || r->element[0]->len >= hostsz)
		return -1;
	p = strtol(r->element[1]->str, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return -1;
	memcpy(host, r->element[0]->str, r->element[0]->len + 1);
	*port = (int)p;
	return 0;
}

int
sentinel_find_primary(const struct config *cfg, int *last, char *host,
    size_t hostsz, int *port)
{
	const struct redis_addr	*a;
	redisContext		*c;
	redisReply		*r;
	int			 i, k;

	for (i = 0; i < cfg->nsentinels; i++) {
		k = (*last + i) % cfg->nsentinels;
		a = &cfg->sentinel_addr[k];
		c = redis_dial(cfg, a->host, a->port, NULL);
		if (c->err) {
			redisFree(c);
			continue;
		}
		r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
		    cfg->sentinel_master);
		k = parse_addr(r, host, hostsz, port) == 0 ? k : -1;
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		if (k >= 0) {
			*last = k;
			return 0;
		}
	}
	log_event("warn", "no Sentinel knows the primary \"%s\"",
	    cfg->sentinel_master);
	return -1;
}

int
sentinel_is_primary(struct redisContext *c, char *why, size_t whysz)
{
	redisReply	*r = redisCommand(c, "ROLE");
	int		 ok;

	if (r == NULL) {
		snprintf(why, whysz, "ROLE: %s", c->errstr);
		return -1;
	}
	ok = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "master") == 0;
	if (!ok)
		snprintf(why, whysz, "the node Sentinel named is not the "
		    "primary");
	freeReplyObject(r);
	return ok ? 0 : -1;
}
