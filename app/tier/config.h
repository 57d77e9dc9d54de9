/*
 * config.h - the worker's settings, read from SHOAL_* environment variables
 * through one table (config.c) that gives each its type, bounds, default and
 * help line. A bad value stops the program at start with exit status 2 and a
 * single line naming the variable and what is wrong with it.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_SENTINELS	8
#define CONFIG_MAX_CLUSTER_SEEDS 16
#define CONFIG_MAX_REPLICAS	8

/* Where a Redis (or Sentinel) listens: a host and port, or a socket path. */
struct redis_addr {
	char	*host;			/* NULL for a unix socket */
	int	 port;
	char	*socket;		/* NULL for TCP */
};

struct config {
	char	*redis;			/* host:port or /path.sock */
	struct redis_addr redis_addr;	/* split from redis */
	char	*sentinels;		/* host:port,host:port...; "" for none */
	struct redis_addr sentinel_addr[CONFIG_MAX_SENTINELS];
	int	 nsentinels;
	char	*sentinel_master;	/* name Sentinel knows the primary by */
	char	*redis_cluster;		/* seed nodes host:port,...; "" */
	struct redis_addr cluster_seed[CONFIG_MAX_CLUSTER_SEEDS];
	int	 ncluster_seeds;
	char	*redis_user;		/* ACL user; "" for the default user */
	char	*redis_password;	/* from the variable or the file */
	char	*redis_password_file;
	char	*sentinel_user;		/* "" for the default user */
	char	*sentinel_password;	/* from the variable or the file */
	char	*sentinel_password_file;
	char	*redis_allowed;		/* what a Sentinel may name; "" */
	char	*keyring;		/* path */
	long	 threads;
	long	 session_idle;		/* seconds */
	long	 session_max;		/* seconds */
	long	 remember_idle;		/* seconds, "remember me" sessions */
	long	 remember_max;		/* seconds */
	long	 guest_idle;		/* seconds, guest sessions */
	long	 guest_max;		/* seconds */
	long	 guest_max_bytes;	/* largest guest record */
	long	 guest_rate;		/* guests created per address a minute */
	char	*cookie_name;
	long	 cookie_secure;		/* 0 or 1 */
	char	*static_base;		/* URL prefix of the CDN origin */
	long	 max_body;		/* bytes */
	long	 max_cookie;		/* bytes of the Cookie header */
	char	*key_prefix;		/* Redis key prefix */
	long	 served_by;		/* 0 or 1: X-Served-By header */
	long	 redis_timeout_ms;	/* per command */
	long	 redis_batch;		/* 0 or 1: threads share a connection */
	long	 drain_seconds;		/* SIGTERM: longest wait for requests */
	long	 drain_delay_ms;	/* SIGTERM: serving on before that */
	long	 sandbox;		/* 0 or 1: the seccomp filter */
	char	*asset_manifest;	/* path; "" for none */
	long	 login_max_fails;	/* failed sign-ins per window */
	long	 login_max_fails_user;	/* from any address */
	long	 login_max_fails_source; /* for any user */
	long	 login_window;		/* seconds */
	long	 signup_max;		/* per address per window */
	long	 signup_window;		/* seconds */
	long	 hash_concurrency;	/* password hashes at once */
	long	 hash_wait_ms;		/* longest wait for a turn */
	long	 hash_nice;		/* the hashing threads' nice value */
	char	*trusted_proxies;	/* addresses and CIDR blocks */
	char	*db;			/* libpq URI of the primary; "": none */
	char	*db_replicas;		/* URIs, comma-separated; "" */
	char	*db_replica[CONFIG_MAX_REPLICAS];	/* split from it */
	int	 ndb_replicas;
	char	*db_password_file;
	char	*db_password;		/* from the file; "" for none */
	long	 db_timeout_ms;		/* per connect and per statement */
	long	 db_start_wait;		/* seconds: database awaited at start */
	char	*db_admin;		/* URI for shoal db migrate; "" */
	char	*db_admin_password_file;
	char	*db_admin_password;	/* from the file; "" for none */
	char	*metrics_listen;	/* HOST:PORT; "": no metrics */
	struct redis_addr metrics_addr;	/* split from metrics_listen */
	char	*metrics_dir;		/* the scoreboard files */

	/* Derived: the cookie names in effect. With Secure they carry the
	 * __Host- prefix, which browsers only accept from HTTPS, for Path=/
	 * and without Domain, so no subdomain can plant one. */
	char	*session_cookie;
	char	*csrf_cookie;
	char	*flash_cookie;
};

/*
 * Fills cfg from the environment. Returns 0, or -1 with one line (no
 * newline) in err naming the variable and the problem.
 */
int	config_load(struct config *cfg, char *err, size_t errsz)
	    __attribute__((warn_unused_result));
void	config_free(struct config *);
/*
 * A SHOAL_* variable that is no setting (SHOAL_TRHEADS) would be ignored
 * without a word: for each such name in env (an environ-style array) calls
 * warn(line, arg) once, with one line (no newline) naming it, its control
 * bytes shown as '?' and cut at 64 bytes. A name listed twice is reported
 * once. The deployments pass workers nothing else (deploy/local/stack
 * keeps its own settings to itself). Returns how many names were reported.
 */
size_t	config_unknown(char *const *env,
	    void (*warn)(const char *line, void *arg), void *arg);
/* One line per setting: name, default and help; for --help. */
void	config_usage(FILE *);

#endif
