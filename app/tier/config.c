/*
 * config.c - the settings table (see config.h). Each entry names a SHOAL_*
 * variable, its type and bounds, its default and one line of help; loading,
 * checking and --help all come from this table.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "oom.h"

enum config_type {
	CONFIG_INT,
	CONFIG_BOOL,
	CONFIG_STRING,
};

struct config_entry {
	const char		*name;
	enum config_type	 type;
	size_t			 offset;	/* into struct config */
	long			 min, max;	/* INT: value; STRING: length */
	const char		*def;		/* NULL: required */
	const char		*help;
};

#define INT(f)	CONFIG_INT, offsetof(struct config, f)
#define BOOL(f)	CONFIG_BOOL, offsetof(struct config, f)
#define STR(f)	CONFIG_STRING, offsetof(struct config, f)

static const struct config_entry entries[] = {
	{ "SHOAL_REDIS", STR(redis), 1, 4096, "127.0.0.1:6379",
	  "Redis address: HOST:PORT, or the path of a unix socket" },
	{ "SHOAL_REDIS_PASSWORD", STR(redis_password), 0, 512, "",
	  "password for Redis AUTH (empty: none)" },
	{ "SHOAL_KEYRING", STR(keyring), 0, 4096, "",
	  "path of the keyring file (shoal keygen); required to serve" },
	{ "SHOAL_THREADS", INT(threads), 1, 256, "4",
	  "request threads per process" },
	{ "SHOAL_SESSION_IDLE", INT(session_idle), 1, 31536000, "1800",
	  "seconds a session lives without a request" },
	{ "SHOAL_SESSION_MAX", INT(session_max), 1, 315360000, "604800",
	  "seconds a session lives at most, however active" },
	{ "SHOAL_COOKIE_NAME", STR(cookie_name), 1, 64, "sid",
	  "name of the session cookie" },
	{ "SHOAL_COOKIE_SECURE", BOOL(cookie_secure), 0, 1, "1",
	  "1: cookies only over HTTPS (Secure); 0 for plain-HTTP development" },
	{ "SHOAL_STATIC_BASE", STR(static_base), 0, 1024, "/static",
	  "URL prefix of the CDN origin that serves the assets" },
	{ "SHOAL_ASSET_MANIFEST", STR(asset_manifest), 0, 4096, "",
	  "manifest of fingerprinted assets (build/static/manifest)" },
	{ "SHOAL_MAX_BODY", INT(max_body), 0, 16777216, "65536",
	  "largest request body accepted, in bytes (larger: 413)" },
	{ "SHOAL_MAX_COOKIE", INT(max_cookie), 256, 65536, "4096",
	  "largest Cookie header accepted, in bytes (larger: 400)" },
	{ "SHOAL_KEY_PREFIX", STR(key_prefix), 0, 64, "shoal:",
	  "prefix of every Redis key shoal writes" },
	{ "SHOAL_SERVED_BY", BOOL(served_by), 0, 1, "0",
	  "1: add X-Served-By: HOST:PID to every response" },
	{ "SHOAL_REDIS_TIMEOUT_MS", INT(redis_timeout_ms), 10, 60000, "500",
	  "longest wait for a Redis connect or reply, in milliseconds" },
	{ "SHOAL_DRAIN_SECONDS", INT(drain_seconds), 0, 3600, "20",
	  "on SIGTERM, longest wait for requests in flight" },
};

#define NENTRIES (sizeof entries / sizeof entries[0])

static int
parse_long(const char *s, long *out)
{
	char	*end;
	long	 v;

	if (*s == '\0' || *s == ' ' || *s == '+')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
set_entry(struct config *cfg, const struct config_entry *e, const char *v,
    char *err, size_t errsz)
{
	char	*base = (char *)cfg + e->offset;
	long	 n;

	switch (e->type) {
	case CONFIG_INT:
	case CONFIG_BOOL:
		if (parse_long(v, &n) != 0) {
			snprintf(err, errsz, "%s: \"%s\" is not a whole number",
			    e->name, v);
			return -1;
		}
		if (n < e->min || n > e->max) {
			snprintf(err, errsz, "%s: %ld is out of range "
			    "(%ld to %ld)", e->name, n, e->min, e->max);
			return -1;
		}
		memcpy(base, &n, sizeof n);
		return 0;
	case CONFIG_STRING:
		n = (long)strlen(v);
		if (n < e->min || n > e->max) {
			snprintf(err, errsz, "%s: must be %ld to %ld bytes long",
			    e->name, e->min, e->max);
			return -1;
		}
		{
			char	*copy = xstrdup(v);

			memcpy(base, &copy, sizeof copy);
		}
		return 0;
	}
	return -1;
}

/* Splits cfg->redis into a socket path or a host and a port. */
static int
split_redis(struct config *cfg, char *err, size_t errsz)
{
	const char	*colon;
	long		 port;

	if (cfg->redis[0] == '/') {
		cfg->redis_socket = xstrdup(cfg->redis);
		return 0;
	}
	colon = strrchr(cfg->redis, ':');
	if (colon == NULL || colon == cfg->redis ||
	    parse_long(colon + 1, &port) != 0 || port < 1 || port > 65535) {
		snprintf(err, errsz, "SHOAL_REDIS: \"%s\" is not HOST:PORT "
		    "or an absolute socket path", cfg->redis);
		return -1;
	}
	cfg->redis_port = (int)port;
	cfg->redis_host = xstrdup(cfg->redis);
	cfg->redis_host[colon - cfg->redis] = '\0';
	/* [::1]:6379 */
	if (cfg->redis_host[0] == '[') {
		size_t	 n = strlen(cfg->redis_host);

		if (n < 3 || cfg->redis_host[n - 1] != ']') {
			snprintf(err, errsz, "SHOAL_REDIS: bad IPv6 address "
			    "\"%s\"", cfg->redis);
			return -1;
		}
		memmove(cfg->redis_host, cfg->redis_host + 1, n - 2);
		cfg->redis_host[n - 2] = '\0';
	}
	return 0;
}

int
config_load(struct config *cfg, char *err, size_t errsz)
{
	const struct config_entry	*e;
	const char			*v;

	memset(cfg, 0, sizeof *cfg);
	for (e = entries; e < entries + NENTRIES; e++) {
		v = getenv(e->name);
		if (v == NULL)
			v = e->def;
		if (v == NULL) {
			snprintf(err, errsz, "%s: is required (%s)", e->name,
			    e->help);
			goto fail;
		}
		if (set_entry(cfg, e, v, err, errsz) != 0)
			goto fail;
	}
	if (split_redis(cfg, err, errsz) != 0)
		goto fail;
	if (cfg->session_idle > cfg->session_max) {
		snprintf(err, errsz, "SHOAL_SESSION_IDLE: %ld is longer than "
		    "SHOAL_SESSION_MAX (%ld)", cfg->session_idle,
		    cfg->session_max);
		goto fail;
	}
	if (strspn(cfg->cookie_name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
	    strlen(cfg->cookie_name)) {
		snprintf(err, errsz, "SHOAL_COOKIE_NAME: only letters, digits, "
		    "'_' and '-' are allowed");
		goto fail;
	}
	if (strpbrk(cfg->static_base, "\"'<> \t\r\n") != NULL) {
		snprintf(err, errsz, "SHOAL_STATIC_BASE: quotes, angle "
		    "brackets and white space are not allowed");
		goto fail;
	}
	if (strpbrk(cfg->key_prefix, "{} \t\r\n") != NULL) {
		snprintf(err, errsz, "SHOAL_KEY_PREFIX: braces and white "
		    "space are not allowed (braces make hash tags)");
		goto fail;
	}
	cfg->session_cookie = xmalloc(strlen(cfg->cookie_name) + 8);
	sprintf(cfg->session_cookie, "%s%s", cfg->cookie_secure ? "__Host-" : "",
	    cfg->cookie_name);
	cfg->csrf_cookie = xmalloc(strlen(cfg->session_cookie) + 6);
	sprintf(cfg->csrf_cookie, "%s_csrf", cfg->session_cookie);
	return 0;
fail:
	config_free(cfg);
	return -1;
}

void
config_free(struct config *cfg)
{
	free(cfg->redis);
	free(cfg->redis_host);
	free(cfg->redis_socket);
	if (cfg->redis_password != NULL) {
		explicit_bzero(cfg->redis_password, strlen(cfg->redis_password));
		free(cfg->redis_password);
	}
	free(cfg->keyring);
	free(cfg->cookie_name);
	free(cfg->static_base);
	free(cfg->key_prefix);
	free(cfg->asset_manifest);
	free(cfg->session_cookie);
	free(cfg->csrf_cookie);
	memset(cfg, 0, sizeof *cfg);
}

void
config_usage(FILE *f)
{
	const struct config_entry	*e;

	fputs("Settings (environment):\n", f);
	for (e = entries; e < entries + NENTRIES; e++)
		fprintf(f, "  %-24s %s%s%s%s\n", e->name, e->help,
		    e->def && *e->def ? " [default: " : "",
		    e->def && *e->def ? e->def : "",
		    e->def && *e->def ? "]" : "");
}
