/*
 * sentinel.c - primary discovery through Sentinel (see sentinel.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "config.h"
#include "log.h"
#include "net.h"
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

/* Authenticates to a Sentinel when a password is set; 0 when it took it. */
static int
sentinel_auth(const struct config *cfg, redisContext *c)
{
	redisReply	*r;
	int		 ok;

	if (cfg->sentinel_password[0] == '\0')
		return 0;
	if (cfg->sentinel_user[0] != '\0')
		r = redisCommand(c, "AUTH %s %s", cfg->sentinel_user,
		    cfg->sentinel_password);
	else
		r = redisCommand(c, "AUTH %s", cfg->sentinel_password);
	ok = r != NULL && r->type != REDIS_REPLY_ERROR;
	if (r != NULL)
		freeReplyObject(r);
	return ok ? 0 : -1;
}

/* What Sentinel k says; 0 with host and port filled. */
static int
ask(const struct config *cfg, int k, char *host, size_t hostsz, int *port)
{
	const struct redis_addr	*a = &cfg->sentinel_addr[k];
	redisContext		*c;
	redisReply		*r = NULL;
	int			 rc = -1;

	c = redis_dial(cfg, a->host, a->port, NULL);
	if (c->err == 0 && sentinel_auth(cfg, c) != 0)
		log_event("warn", "Sentinel %s:%d refused our password",
		    a->host, a->port);
	else if (c->err == 0) {
		r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
		    cfg->sentinel_master);
		rc = parse_addr(r, host, hostsz, port);
	}
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	return rc;
}

int
sentinel_find_primary(const struct config *cfg, int *last, char *host,
    size_t hostsz, int *port)
{
	char	 seen[CONFIG_MAX_SENTINELS][SENTINEL_HOST_MAX];
	int	 seen_port[CONFIG_MAX_SENTINELS], votes[CONFIG_MAX_SENTINELS];
	int	 nseen = 0, i, j, k, p;

	for (i = 0; i < cfg->nsentinels; i++) {
		k = (*last + i) % cfg->nsentinels;
		if (ask(cfg, k, host, hostsz < sizeof seen[0] ? hostsz :
		    sizeof seen[0], &p) != 0)
			continue;
		if (cfg->redis_allowed[0] != '\0') {
			if (net_in_list(cfg->redis_allowed, host)) {
				*port = p;
				*last = k;
				return 0;
			}
			log_event("error", "a Sentinel named %s:%d as the "
			    "primary, which SHOAL_REDIS_ALLOWED does not list: "
			    "ignored", host, p);
			continue;
		}
		/* No list: the address most Sentinels name, so one Sentinel
		 * that lies (or was reconfigured by someone) is outvoted. */
		for (j = 0; j < nseen; j++)
			if (seen_port[j] == p && strcmp(seen[j], host) == 0)
				break;
		if (j == nseen) {
			snprintf(seen[j], sizeof seen[j], "%s", host);
			seen_port[j] = p;
			votes[j] = 0;
			nseen++;
		}
		if (++votes[j] > cfg->nsentinels / 2) {
			*port = p;
			*last = k;
			return 0;
		}
	}
	if (nseen > 1)
		log_event("warn", "the Sentinels do not agree on the primary "
		    "\"%s\"", cfg->sentinel_master);
	else
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
