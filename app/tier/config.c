/*
 * config.c - the settings table (see config.h). Each entry names a SHOAL_*
 * variable, its type and bounds, its default and one line of help; loading,
 * checking and --help all come from this table.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "net.h"
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
	{ "SHOAL_SENTINELS", STR(sentinels), 0, 4096, "",
	  "Sentinels to ask for the primary (HOST:PORT,...); overrides "
	  "SHOAL_REDIS" },
	{ "SHOAL_REDIS_CLUSTER", STR(redis_cluster), 0, 4096, "",
	  "Redis Cluster nodes to learn the slot map from (HOST:PORT,...); "
	  "overrides SHOAL_REDIS" },
	{ "SHOAL_SENTINEL_MASTER", STR(sentinel_master), 1, 128, "shoal",
	  "the name Sentinel knows the primary by" },
	{ "SHOAL_SENTINEL_USER", STR(sentinel_user), 0, 128, "",
	  "ACL user for the Sentinels (empty: the default user)" },
	{ "SHOAL_SENTINEL_PASSWORD", STR(sentinel_password), 0, 512, "",
	  "password for Sentinel AUTH (empty: none)" },
	{ "SHOAL_SENTINEL_PASSWORD_FILE", STR(sentinel_password_file), 0, 4096,
	  "", "file holding the Sentinel password" },
	{ "SHOAL_REDIS_ALLOWED", STR(redis_allowed), 0, 4096, "",
	  "addresses a Sentinel may name as the primary (ADDR or CIDR, ...); "
	  "empty: those most Sentinels agree on" },
	{ "SHOAL_REDIS_USER", STR(redis_user), 0, 128, "",
	  "Redis ACL user (empty: the default user)" },
	{ "SHOAL_REDIS_PASSWORD", STR(redis_password), 0, 512, "",
	  "password for Redis AUTH (empty: none)" },
	{ "SHOAL_REDIS_PASSWORD_FILE", STR(redis_password_file), 0, 4096, "",
	  "file holding the Redis password (instead of SHOAL_REDIS_PASSWORD)" },
	{ "SHOAL_KEYRING", STR(keyring), 0, 4096, "",
	  "path of the keyring file (shoal keygen); required to serve" },
	{ "SHOAL_THREADS", INT(threads), 1, 256, "4",
	  "request threads per process" },
	{ "SHOAL_SESSION_IDLE", INT(session_idle), 1, 31536000, "1800",
	  "seconds a session lives without a request" },
	{ "SHOAL_SESSION_MAX", INT(session_max), 1, 315360000, "604800",
	  "seconds a session lives at most, however active" },
	{ "SHOAL_REMEMBER_IDLE", INT(remember_idle), 1, 31536000, "2592000",
	  "seconds a \"remember me\" session lives without a request" },
	{ "SHOAL_REMEMBER_MAX", INT(remember_max), 1, 315360000, "7776000",
	  "seconds a \"remember me\" session lives at most" },
	{ "SHOAL_GUEST_IDLE", INT(guest_idle), 1, 31536000, "86400",
	  "seconds a guest session (a visitor not signed in who changed "
	  "something) lives without a request" },
	{ "SHOAL_GUEST_MAX", INT(guest_max), 1, 315360000, "604800",
	  "seconds a guest session lives at most" },
	{ "SHOAL_GUEST_MAX_BYTES", INT(guest_max_bytes), 64, 16384, "4096",
	  "largest guest session record, in bytes (a larger change: 413)" },
	{ "SHOAL_GUEST_RATE", INT(guest_rate), 1, 1000000, "30",
	  "guest sessions created per address (IPv6: per /64) per minute "
	  "before 429" },
	{ "SHOAL_COOKIE_NAME", STR(cookie_name), 1, 64, "sid",
	  "name of the session cookie" },
	{ "SHOAL_COOKIE_SECURE", BOOL(cookie_secure), 0, 1, "1",
	  "1: cookies only over HTTPS (Secure); 0 for plain-HTTP development" },
	{ "SHOAL_STATIC_BASE", STR(static_base), 0, 1024, "/static",
	  "URL prefix of the CDN origin that serves the assets" },
	{ "SHOAL_ASSET_MANIFEST", STR(asset_manifest), 0, 4096, "",
	  "manifest of fingerprinted assets (build/static/manifest)" },
	{ "SHOAL_LOGIN_MAX_FAILS", INT(login_max_fails), 1, 1000, "5",
	  "failed sign-ins per user name and address before 429" },
	{ "SHOAL_LOGIN_MAX_FAILS_USER", INT(login_max_fails_user), 1, 1000000,
	  "20", "failed sign-ins per user name, from any address, before 429" },
	{ "SHOAL_LOGIN_MAX_FAILS_SOURCE", INT(login_max_fails_source), 1,
	  1000000, "100", "failed sign-ins per address (IPv6: per /64), for "
	  "any user name, before 429" },
	{ "SHOAL_LOGIN_WINDOW", INT(login_window), 1, 86400, "900",
	  "seconds that failed sign-ins are counted for" },
	{ "SHOAL_SIGNUP_MAX", INT(signup_max), 1, 1000000, "20",
	  "sign-up attempts per address (IPv6: per /64) before 429" },
	{ "SHOAL_SIGNUP_WINDOW", INT(signup_window), 1, 86400, "3600",
	  "seconds that sign-up attempts are counted for" },
	{ "SHOAL_HASH_CONCURRENCY", INT(hash_concurrency), 1, 64, "2",
	  "password hashes at once per process (each needs 64 MiB)" },
	{ "SHOAL_HASH_WAIT_MS", INT(hash_wait_ms), 0, 60000, "1000",
	  "longest wait for a turn to hash a password (longer: 503)" },
	{ "SHOAL_HASH_NICE", INT(hash_nice), 0, 19, "10",
	  "nice value of the password-hashing threads (pages come first)" },
	{ "SHOAL_TRUSTED_PROXIES", STR(trusted_proxies), 0, 4096, "",
	  "proxies whose X-Forwarded-For is believed (ADDR or CIDR, ...)" },
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
	{ "SHOAL_REDIS_BATCH", BOOL(redis_batch), 0, 1, "1",
	  "1: a process's threads share one Redis connection and send the "
	  "commands they have ready together, in one write; 0: a connection "
	  "per thread (not with SHOAL_REDIS_CLUSTER, which keeps one per "
	  "thread and node)" },
	{ "SHOAL_SANDBOX", BOOL(sandbox), 0, 1, "1",
	  "1: a seccomp filter of the worker's system calls once started; 0 "
	  "for valgrind, or to find a call the filter lacks" },
	{ "SHOAL_DRAIN_SECONDS", INT(drain_seconds), 0, 3600, "20",
	  "on SIGTERM, longest wait for requests in flight" },
	{ "SHOAL_DRAIN_DELAY_MS", INT(drain_delay_ms), 0, 60000, "0",
	  "on SIGTERM, go on serving this long first (/readyz answers 503): "
	  "time for a balancer that finds its servers by name to stop "
	  "sending" },
	{ "SHOAL_DB", STR(db), 0, 4096, "",
	  "PostgreSQL primary as a libpq URI without a password "
	  "(postgresql://USER@HOST:PORT/DB); empty: no database" },
	{ "SHOAL_DB_REPLICAS", STR(db_replicas), 0, 4096, "",
	  "replicas to read from: libpq URIs separated by commas; empty: "
	  "reads go to the primary" },
	{ "SHOAL_DB_PASSWORD_FILE", STR(db_password_file), 0, 4096, "",
	  "file holding the database password of SHOAL_DB's user" },
	{ "SHOAL_DB_TIMEOUT_MS", INT(db_timeout_ms), 100, 600000, "2000",
	  "longest wait for a database connect or statement, in "
	  "milliseconds (longer: 503)" },
	{ "SHOAL_DB_START_WAIT", INT(db_start_wait), 0, 3600, "10",
	  "seconds a starting worker waits for the database to answer "
	  "before it gives up (exit status 1)" },
	{ "SHOAL_DB_ADMIN", STR(db_admin), 0, 4096, "",
	  "the migrations' role for shoal db migrate and status: a libpq URI "
	  "straight to the primary, without a password" },
	{ "SHOAL_DB_ADMIN_PASSWORD_FILE", STR(db_admin_password_file), 0,
	  4096, "", "file holding the password of SHOAL_DB_ADMIN's user" },
	{ "SHOAL_METRICS_LISTEN", STR(metrics_listen), 0, 256, "",
	  "HOST:PORT to serve GET /metrics on (Prometheus text), shared by "
	  "every process of the server; empty: no metrics" },
	{ "SHOAL_METRICS_DIR", STR(metrics_dir), 0, 3800, "",
	  "folder of the server's counter files, one per process; required "
	  "with SHOAL_METRICS_LISTEN, one per server" },
};

#define NENTRIES (sizeof entries / sizeof entries[0])

/*
 * A value as it may appear in an error line: control bytes shown as '?' and
 * cut at 64 bytes, so a bad value can neither break the one-line rule nor
 * forge a log line.
 */
static const char *
printable(const char *v, char out[72])
{
	size_t	 i;

	for (i = 0; v[i] != '\0' && i < 64; i++)
		out[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' :
		    v[i];
	if (v[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static int
parse_long(const char *s, long *out)
{
	char	*end;
	long	 v;

	/* strtol would skip leading white space and take a '+'. */
	if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' &&
	    s[1] <= '9')))
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
	char	 shown[72];
	long	 n;

	switch (e->type) {
	case CONFIG_INT:
	case CONFIG_BOOL:
		if (parse_long(v, &n) != 0) {
			snprintf(err, errsz, "%s: \"%s\" is not a whole number",
			    e->name, printable(v, shown));
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

/*
 * Parses "HOST:PORT", "[V6]:PORT" or "/socket/path" (when sockets are
 * allowed) into a. Returns 0, or -1 with a line naming var in err.
 */
static int
parse_addr(struct redis_addr *a, const char *var, const char *s,
    size_t len, int socket_ok, char *err, size_t errsz)
{
	char	*text = xmalloc(len + 1), *colon, shown[72];
	long	 port;
	size_t	 n;

	memcpy(text, s, len);
	text[len] = '\0';
	memset(a, 0, sizeof *a);
	for (n = 0; n < len; n++)
		if ((unsigned char)text[n] <= 0x20 || text[n] == 0x7f) {
			snprintf(err, errsz, "%s: \"%s\" holds white space or "
			    "control characters", var, printable(text, shown));
			free(text);
			return -1;
		}
	if (text[0] == '/' && socket_ok) {
		a->socket = text;
		return 0;
	}
	colon = strrchr(text, ':');
	if (colon == NULL || colon == text ||
	    parse_long(colon + 1, &port) != 0 || port < 1 || port > 65535) {
		snprintf(err, errsz, "%s: \"%s\" is not HOST:PORT%s", var,
		    printable(text, shown),
		    socket_ok ? " or an absolute socket path" : "");
		free(text);
		return -1;
	}
	*colon = '\0';
	a->port = (int)port;
	a->host = text;
	if (text[0] == '[') {		/* [::1]:6379 */
		n = strlen(text);
		if (n < 3 || text[n - 1] != ']') {
			snprintf(err, errsz, "%s: bad IPv6 address in \"%s\"",
			    var, printable(text, shown));
			free(text);
			a->host = NULL;
			return -1;
		}
		memmove(text, text + 1, n - 2);
		text[n - 2] = '\0';
	}
	return 0;
}

/*
 * Reads a password from the file the variable var (NAME_FILE) names: the
 * first line, without its newline, into *password. Setting both the
 * variable NAME and the file is a mistake.
 */
static int
read_password_file(const char *var, const char *path, char **password,
    char *err, size_t errsz)
{
	FILE		*f;
	struct stat	 st;
	char		 line[514], shown[72];
	size_t		 n;

	if ((*password)[0] != '\0') {
		snprintf(err, errsz, "%s: set, and so is %.*s; give one", var,
		    (int)(strlen(var) - 5), var);
		return -1;
	}
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errsz, "%s: %s: %s", var, printable(path, shown),
		    strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0 || (st.st_mode & (S_IROTH | S_IWOTH))) {
		snprintf(err, errsz, "%s: %s: readable or writable by others "
		    "(chmod 600 it)", var, printable(path, shown));
		fclose(f);
		return -1;
	}
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	if (n == 0 || n > 512) {
		snprintf(err, errsz, "%s: %s: expected a password of 1 to 512 "
		    "bytes on the first line", var, printable(path, shown));
		explicit_bzero(line, sizeof line);
		return -1;
	}
	line[n] = '\0';
	free(*password);
	*password = xstrdup(line);
	explicit_bzero(line, sizeof line);
	return 0;
}

/* Wipes and frees a secret. */
static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void
free_addr(struct redis_addr *a)
{
	free(a->host);
	free(a->socket);
	memset(a, 0, sizeof *a);
}

/* A comma-separated list of HOST:PORT into addrs[0..max-1]. */
static int
parse_addr_list(const char *name, const char *list, struct redis_addr *addrs,
    int max, int *n, char *err, size_t errsz)
{
	const char	*p = list, *comma;
	size_t		 len;

	while (*p != '\0') {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (*n == max) {
			snprintf(err, errsz, "%s: more than %d", name, max);
			return -1;
		}
		if (parse_addr(&addrs[*n], name, p, len, 0, err, errsz) != 0)
			return -1;
		(*n)++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

/* Sentinels or a cluster's seed nodes, never both. */
static int
parse_redis_nodes(struct config *cfg, char *err, size_t errsz)
{
	if (parse_addr_list("SHOAL_SENTINELS", cfg->sentinels,
	    cfg->sentinel_addr, CONFIG_MAX_SENTINELS, &cfg->nsentinels, err,
	    errsz) != 0 || parse_addr_list("SHOAL_REDIS_CLUSTER",
	    cfg->redis_cluster, cfg->cluster_seed, CONFIG_MAX_CLUSTER_SEEDS,
	    &cfg->ncluster_seeds, err, errsz) != 0)
		return -1;
	if (cfg->nsentinels > 0 && cfg->ncluster_seeds > 0) {
		snprintf(err, errsz, "SHOAL_REDIS_CLUSTER: set with "
		    "SHOAL_SENTINELS (a cluster fails over by itself: "
		    "set one of them)");
		return -1;
	}
	return 0;
}

/*
 * The database settings: URIs checked now (a bad one, or one holding a
 * password, stops the worker at start), replicas split, the password read
 * once. A password file without SHOAL_DB is a mistake worth a line.
 */
static int
parse_db(struct config *cfg, char *err, size_t errsz)
{
	const char	*p = cfg->db_replicas, *comma;
	char		*uri;
	size_t		 len;

	if (cfg->db[0] == '\0') {
		if (cfg->db_replicas[0] != '\0' ||
		    cfg->db_password_file[0] != '\0') {
			snprintf(err, errsz, "%s: set without SHOAL_DB",
			    cfg->db_replicas[0] != '\0' ? "SHOAL_DB_REPLICAS" :
			    "SHOAL_DB_PASSWORD_FILE");
			return -1;
		}
	} else if (db_uri_check("SHOAL_DB", cfg->db, err, errsz) != 0)
		return -1;
	while (cfg->db[0] != '\0' && *p != '\0') {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (cfg->ndb_replicas == CONFIG_MAX_REPLICAS) {
			snprintf(err, errsz, "SHOAL_DB_REPLICAS: more than %d",
			    CONFIG_MAX_REPLICAS);
			return -1;
		}
		uri = xmalloc(len + 1);
		memcpy(uri, p, len);
		uri[len] = '\0';
		cfg->db_replica[cfg->ndb_replicas++] = uri;
		if (db_uri_check("SHOAL_DB_REPLICAS", uri, err, errsz) != 0)
			return -1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	cfg->db_password = xstrdup("");
	if (cfg->db_password_file[0] != '\0' &&
	    read_password_file("SHOAL_DB_PASSWORD_FILE",
	    cfg->db_password_file, &cfg->db_password, err, errsz) != 0)
		return -1;
	if (cfg->db_admin[0] != '\0' &&
	    db_uri_check("SHOAL_DB_ADMIN", cfg->db_admin, err, errsz) != 0)
		return -1;
	cfg->db_admin_password = xstrdup("");
	if (cfg->db_admin_password_file[0] != '\0' &&
	    read_password_file("SHOAL_DB_ADMIN_PASSWORD_FILE",
	    cfg->db_admin_password_file, &cfg->db_admin_password, err,
	    errsz) != 0)
		return -1;
	return 0;
}

/* SHOAL_METRICS_LISTEN and SHOAL_METRICS_DIR go together. */
static int
parse_metrics(struct config *cfg, char *err, size_t errsz)
{
	if (cfg->metrics_listen[0] == '\0') {
		if (cfg->metrics_dir[0] == '\0')
			return 0;
		snprintf(err, errsz, "SHOAL_METRICS_DIR: set without "
		    "SHOAL_METRICS_LISTEN");
		return -1;
	}
	if (parse_addr(&cfg->metrics_addr, "SHOAL_METRICS_LISTEN",
	    cfg->metrics_listen, strlen(cfg->metrics_listen), 0, err,
	    errsz) != 0)
		return -1;
	if (cfg->metrics_dir[0] != '/') {
		snprintf(err, errsz, "SHOAL_METRICS_DIR: %s (an absolute path "
		    "is needed with SHOAL_METRICS_LISTEN)",
		    cfg->metrics_dir[0] == '\0' ? "is required" :
		    "is not absolute");
		return -1;
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
	if (cfg->redis_password_file[0] != '\0' &&
	    read_password_file("SHOAL_REDIS_PASSWORD_FILE",
	    cfg->redis_password_file, &cfg->redis_password, err, errsz) != 0)
		goto fail;
	if (cfg->sentinel_password_file[0] != '\0' &&
	    read_password_file("SHOAL_SENTINEL_PASSWORD_FILE",
	    cfg->sentinel_password_file, &cfg->sentinel_password, err,
	    errsz) != 0)
		goto fail;
	if (cfg->redis_user[0] != '\0' && cfg->redis_password[0] == '\0') {
		snprintf(err, errsz, "SHOAL_REDIS_USER: needs a password "
		    "(SHOAL_REDIS_PASSWORD or SHOAL_REDIS_PASSWORD_FILE)");
		goto fail;
	}
	if (cfg->sentinel_user[0] != '\0' &&
	    cfg->sentinel_password[0] == '\0') {
		snprintf(err, errsz, "SHOAL_SENTINEL_USER: needs a password "
		    "(SHOAL_SENTINEL_PASSWORD or SHOAL_SENTINEL_PASSWORD_FILE)");
		goto fail;
	}
	if (parse_addr(&cfg->redis_addr, "SHOAL_REDIS", cfg->redis,
	    strlen(cfg->redis), 1, err, errsz) != 0)
		goto fail;
	if (parse_redis_nodes(cfg, err, errsz) != 0)
		goto fail;
	if (parse_db(cfg, err, errsz) != 0)
		goto fail;
	if (parse_metrics(cfg, err, errsz) != 0)
		goto fail;
	if (!net_list_valid(cfg->redis_allowed)) {
		snprintf(err, errsz, "SHOAL_REDIS_ALLOWED: expected addresses "
		    "or CIDR blocks separated by commas");
		goto fail;
	}
	if (!net_list_valid(cfg->trusted_proxies)) {
		snprintf(err, errsz, "SHOAL_TRUSTED_PROXIES: expected "
		    "addresses or CIDR blocks separated by commas");
		goto fail;
	}
	if (cfg->session_idle > cfg->session_max) {
		snprintf(err, errsz, "SHOAL_SESSION_IDLE: %ld is longer than "
		    "SHOAL_SESSION_MAX (%ld)", cfg->session_idle,
		    cfg->session_max);
		goto fail;
	}
	if (cfg->remember_idle > cfg->remember_max) {
		snprintf(err, errsz, "SHOAL_REMEMBER_IDLE: %ld is longer than "
		    "SHOAL_REMEMBER_MAX (%ld)", cfg->remember_idle,
		    cfg->remember_max);
		goto fail;
	}
	if (cfg->guest_idle > cfg->guest_max) {
		snprintf(err, errsz, "SHOAL_GUEST_IDLE: %ld is longer than "
		    "SHOAL_GUEST_MAX (%ld)", cfg->guest_idle, cfg->guest_max);
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
	cfg->flash_cookie = xmalloc(strlen(cfg->session_cookie) + 7);
	sprintf(cfg->flash_cookie, "%s_flash", cfg->session_cookie);
	return 0;
fail:
	config_free(cfg);
	return -1;
}

void
config_free(struct config *cfg)
{
	int	 i;

	free(cfg->redis);
	free_addr(&cfg->redis_addr);
	free(cfg->sentinels);
	for (i = 0; i < cfg->nsentinels; i++)
		free_addr(&cfg->sentinel_addr[i]);
	free(cfg->redis_cluster);
	for (i = 0; i < cfg->ncluster_seeds; i++)
		free_addr(&cfg->cluster_seed[i]);
	free(cfg->sentinel_master);
	free_secret(cfg->redis_password);
	free(cfg->redis_user);
	free(cfg->redis_password_file);
	free_secret(cfg->sentinel_password);
	free(cfg->sentinel_user);
	free(cfg->sentinel_password_file);
	free(cfg->redis_allowed);
	free(cfg->keyring);
	free(cfg->cookie_name);
	free(cfg->static_base);
	free(cfg->key_prefix);
	free(cfg->asset_manifest);
	free(cfg->trusted_proxies);
	free(cfg->db);
	free(cfg->db_replicas);
	for (i = 0; i < cfg->ndb_replicas; i++)
		free(cfg->db_replica[i]);
	free(cfg->db_password_file);
	free_secret(cfg->db_password);
	free(cfg->db_admin);
	free(cfg->db_admin_password_file);
	free_secret(cfg->db_admin_password);
	free(cfg->metrics_listen);
	free_addr(&cfg->metrics_addr);
	free(cfg->metrics_dir);
	free(cfg->session_cookie);
	free(cfg->csrf_cookie);
	free(cfg->flash_cookie);
	memset(cfg, 0, sizeof *cfg);
}

static int
is_setting(const char *name, size_t len)
{
	const struct config_entry	*e;

	for (e = entries; e < entries + NENTRIES; e++)
		if (strlen(e->name) == len && memcmp(e->name, name, len) == 0)
			return 1;
	return 0;
}

size_t
config_unknown(char *const *env, void (*warn)(const char *, void *),
    void *arg)
{
	char *const	*p, *const *q;
	char		 name[66], shown[72], line[256];
	size_t		 len, n = 0;

	for (p = env; p != NULL && *p != NULL; p++) {
		if (strncmp(*p, "SHOAL_", 6) != 0)
			continue;
		len = strcspn(*p, "=");
		if (is_setting(*p, len))
			continue;
		for (q = env; q < p; q++)
			if (strncmp(*q, *p, len) == 0 &&
			    ((*q)[len] == '=' || (*q)[len] == '\0'))
				break;
		if (q < p)
			continue;		/* reported already */
		/* 65 bytes at most: printable() cuts at 64 and marks the cut. */
		snprintf(name, sizeof name, "%.*s", (int)(len < 65 ? len : 65),
		    *p);
		snprintf(line, sizeof line, "%s: not a setting, ignored "
		    "(misspelt? shoal --help lists every setting)",
		    printable(name, shown));
		warn(line, arg);
		n++;
	}
	return n;
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
