/*
 * reqid.c - the request id (see reqid.h).
 */
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "config.h"
#include "net.h"
#include "reqid.h"
#include "request.h"

int
reqid_valid(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (n == REQID_MAX)
			return 0;
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:", s[n]) == NULL)
			return 0;
	}
	return n > 0;
}

static const char *
trusted_header(struct shoal_req *r)
{
	const char	*trusted = r->t->cfg->trusted_proxies;
	const char	*remote, *id;

	if (trusted[0] == '\0' ||
	    (id = shoal_header(r, "HTTP_X_REQUEST_ID")) == NULL ||
	    (remote = shoal_header(r, "REMOTE_ADDR")) == NULL ||
	    !net_in_list(trusted, remote))
		return NULL;
	return id;
}

const char *
reqid_of(struct shoal_req *r)
{
	const char	*id;
	unsigned char	 raw[16];
	char		*hex;

	if (r->request_id != NULL)
		return r->request_id;
	if (reqid_valid(id = trusted_header(r)) ||
	    reqid_valid(id = shoal_header(r, "REQUEST_ID")))
		return r->request_id = id;
	randombytes_buf(raw, sizeof raw);
	hex = arena_alloc(&r->t->arena, 2 * sizeof raw + 1);
	sodium_bin2hex(hex, 2 * sizeof raw + 1, raw, sizeof raw);
	return r->request_id = hex;
}

const char *
shoal_request_id(struct shoal_req *r)
{
	return reqid_of(r);
}
