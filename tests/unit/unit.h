/*
 * unit.h - helpers shared by the unit tests: keyrings built from fixed keys,
 * so a test can sign with one keyring and verify with another, the base64url
 * alphabet for tampering loops, an environment without SHOAL_* settings,
 * and a throwaway redis-server with admin commands for the tests of the
 * Redis layer. Everything here is static inline (the Makefile builds each
 * test_*.c on its own).
 */
#ifndef UNIT_H
#define UNIT_H

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis.h>
#include <sodium.h>

#include "b64url.h"
#include "config.h"
#include "keyring.h"
#include "redis.h"

static const char unit_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A deterministic 32-byte key for id, different for every (id, salt). */
static inline void
unit_key_bytes(unsigned char out[KEY_BYTES], uint8_t id, uint8_t salt)
{
	size_t	 i;

	for (i = 0; i < KEY_BYTES; i++)
		out[i] = (unsigned char)(id * 31 + salt * 7 + i * 13 + 1);
}

/* Appends the line "ID KEY\n" for unit_key_bytes(id, salt) to text. */
static inline void
unit_key_line(char *text, size_t textsz, uint8_t id, uint8_t salt)
{
	unsigned char	 k[KEY_BYTES];
	char		 enc[B64URL_LEN(KEY_BYTES) + 1];
	size_t		 used = strlen(text);

	unit_key_bytes(k, id, salt);
	if (b64url_encode(enc, sizeof enc, k, sizeof k) != 0)
		enc[0] = '\0';
	snprintf(text + used, textsz - used, "%u %s\n", id, enc);
}

/*
 * Fills kr with the keys ids[0..n-1] (salt 0), ids[0] signing. Returns what
 * keyring_parse returns.
 */
static inline int
unit_keyring(struct keyring *kr, const uint8_t *ids, size_t n)
{
	char	 text[2048] = "", err[256];
	size_t	 i;

	for (i = 0; i < n; i++)
		unit_key_line(text, sizeof text, ids[i], 0);
	return keyring_parse(kr, text, err, sizeof err);
}

/*
 * Removes every SHOAL_* variable from the environment, so that config_load
 * gives the defaults whatever the shell that ran the tests had set.
 * Returns 0, or -1 when one could not be removed.
 */
static inline int
unit_clear_env(void)
{
	char	 name[256];
	size_t	 i;

	for (;;) {
		for (i = 0; environ[i] != NULL; i++)
			if (strncmp(environ[i], "SHOAL_", 6) == 0)
				break;
		if (environ[i] == NULL)
			return 0;
		snprintf(name, sizeof name, "%.*s",
		    (int)strcspn(environ[i], "="), environ[i]);
		if (unsetenv(name) != 0)
			return -1;
	}
}

/* The other alphabet character at distance k (1..63) from c. */
static inline char
unit_b64url_other(char c, size_t k)
{
	const char	*p = strchr(unit_b64url_alphabet, c);
	size_t		 at = p ? (size_t)(p - unit_b64url_alphabet) : 0;

	return unit_b64url_alphabet[(at + k) % 64];
}

/*
 * A loopback port below the kernel's ephemeral range that nothing listens
 * on now and refused (when given) does not refuse; -1 when none is found.
 * For the tests that start their own redis-server.
 */
static inline int
unit_free_port(int (*refused)(int))
{
	struct sockaddr_in	 sa;
	FILE			*f;
	int			 low = 32768, high, port, fd, i, ok;

	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) !=
	    NULL) {
		if (fscanf(f, "%d %d", &low, &high) != 2)
			low = 32768;
		fclose(f);
	}
	if (low <= 20000)
		low = 30000;
	for (i = 0; i < 200; i++) {
		port = 20000 + (int)randombytes_uniform((uint32_t)(low - 20000));
		if ((refused != NULL && refused(port)) ||
		    (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			continue;
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
		if (ok)
			return port;
	}
	return -1;
}

/*
 * A redis-server of the test's own on a free loopback port, its files in
 * dir/PORT; stopped by its pid (the shell execs it). Admin commands go on
 * connections of their own, never on the one under test.
 */
struct unit_redis {
	pid_t	 pid;
	int	 port;
};

/* A port below the ephemeral range that nothing listens on now. */
static inline int
unit_redis_port(void)
{
	int	 port = unit_free_port(NULL);

	if (port < 0)
		fail_msg("no free port");
	return port;
}

static inline redisContext *
unit_redis_admin(int port)
{
	struct timeval	 tv = { 2, 0 };
	redisContext	*c = redisConnectWithTimeout("127.0.0.1", port, tv);

	if (c != NULL && c->err) {
		redisFree(c);
		c = NULL;
	}
	if (c != NULL)
		redisSetTimeout(c, tv);
	return c;
}

/* Runs a command on a fresh admin connection; fails the test on error.
 * Returns an integer reply, 0 for any other. */
static inline long long
unit_redis_run(int port, const char *fmt, ...)
{
	redisContext	*c = unit_redis_admin(port);
	redisReply	*r;
	va_list		 ap;
	long long	 n = 0;

	assert_non_null(c);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("%s: %s", fmt, r->str);
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	redisFree(c);
	return n;
}

/* A number INFO section gives as "name:N" on connection c. */
static inline long long
unit_redis_info_on(redisContext *c, const char *section, const char *name)
{
	redisReply	*r;
	const char	*p;
	size_t		 len = strlen(name);
	long long	 n = -1;

	r = redisCommand(c, "INFO %s", section);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	for (p = r->str; (p = strstr(p, name)) != NULL; p += len)
		if ((p == r->str || p[-1] == '\n') && p[len] == ':') {
			n = strtoll(p + len + 1, NULL, 10);
			break;
		}
	freeReplyObject(r);
	if (n < 0)
		fail_msg("INFO %s has no %s", section, name);
	return n;
}

/* The same on a fresh admin connection. */
static inline long long
unit_redis_info(int port, const char *section, const char *name)
{
	redisContext	*c = unit_redis_admin(port);
	long long	 n;

	assert_non_null(c);
	n = unit_redis_info_on(c, section, name);
	redisFree(c);
	return n;
}

/* How many connections the server has accepted before this call's own. */
static inline long long
unit_redis_connections(int port)
{
	return unit_redis_info(port, "stats",
	    "total_connections_received") - 1;
}

/* Connections accepted since unit_redis_connections() returned before,
 * other than those two counts' own. */
static inline long long
unit_redis_new_connections(int port, long long before)
{
	return unit_redis_connections(port) - before - 1;
}

/* Starts the server on port (0: a free one), with extra arguments. */
static inline void
unit_redis_start(struct unit_redis *s, const char *dir, int port,
    const char *extra)
{
	char		 cmd[2048], sub[128];
	redisContext	*c;
	int		 i;

	s->port = port ? port : unit_redis_port();
	snprintf(sub, sizeof sub, "%s/%d", dir, s->port);
	mkdir(sub, 0700);
	snprintf(cmd, sizeof cmd, "exec redis-server --port %d --bind "
	    "127.0.0.1 --save '' --appendonly no --dir %s %s "
	    ">%s/log 2>&1", s->port, sub, extra ? extra : "", sub);
	if ((s->pid = fork()) == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	assert_true(s->pid > 0);
	for (i = 0; i < 200; i++) {
		if ((c = unit_redis_admin(s->port)) != NULL) {
			redisFree(c);
			return;
		}
		usleep(20000);
	}
	fail_msg("redis-server on port %d did not start", s->port);
}

static inline void
unit_redis_stop(struct unit_redis *s)
{
	int	 status;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGCONT);		/* a test may have stopped it */
	kill(s->pid, SIGTERM);
	waitpid(s->pid, &status, 0);
	s->pid = 0;
}

/* A group's set-up and tear-down around one server in a fresh tmpdir (a
 * mkdtemp template): the server started, then stopped and the folder gone. */
static inline int
unit_redis_group_start(struct unit_redis *s, char *tmpdir)
{
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || mkdtemp(tmpdir) == NULL)
		return -1;
	unit_redis_start(s, tmpdir, 0, NULL);
	return 0;
}

static inline int
unit_redis_group_stop(struct unit_redis *s, const char *tmpdir)
{
	char	 cmd[600];

	unit_redis_stop(s);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The settings of a client of the server on port: the defaults, with the
 * user, password and timeout given (NULL: the default). */
static inline void
unit_redis_config(struct config *cfg, int port, const char *user,
    const char *password, const char *timeout_ms)
{
	char	 addr[64], err[256];

	assert_int_equal(unit_clear_env(), 0);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	setenv("SHOAL_REDIS", addr, 1);
	if (user != NULL)
		setenv("SHOAL_REDIS_USER", user, 1);
	if (password != NULL)
		setenv("SHOAL_REDIS_PASSWORD", password, 1);
	if (timeout_ms != NULL)
		setenv("SHOAL_REDIS_TIMEOUT_MS", timeout_ms, 1);
	if (config_load(cfg, err, sizeof err) != 0)
		fail_msg("config_load: %s", err);
}

static inline void
unit_assert_string(const struct redis_value *v, const char *want)
{
	assert_int_equal(v->type, REDIS_VALUE_STRING);
	assert_int_equal(v->len, strlen(want));
	assert_memory_equal(v->str, want, v->len);
}

#endif
