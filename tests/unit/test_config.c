/*
 * test_config.c - config.h: SHOAL_* settings, their defaults and their checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "unit.h"


/* Each test starts from the defaults. */
static int
clear_env(void **state)
{
	(void)state;
	return unit_clear_env();
}

static void
load_ok(struct config *cfg)
{
	char	 err[512] = "";

	if (config_load(cfg, err, sizeof err) != 0)
		fail_msg("config_load failed: %s", err);
}

/* Sets name=value, expects config_load to fail; returns the error line. */
static const char *
load_fails(const char *name, const char *value)
{
	static char	 err[512];
	struct config	 cfg;

	assert_int_equal(setenv(name, value, 1), 0);
	memset(err, 0, sizeof err);
	if (config_load(&cfg, err, sizeof err) == 0) {
		config_free(&cfg);
		fail_msg("%s=\"%s\" was accepted", name, value);
	}
	if (strstr(err, name) == NULL)
		fail_msg("error for %s does not name it: \"%s\"", name, err);
	if (strchr(err, '\n') != NULL)
		fail_msg("error for %s=\"%s\" has a newline: \"%s\"", name,
		    value, err);
	assert_int_equal(unsetenv(name), 0);
	return err;
}

static void
load_accepts(const char *name, const char *value, struct config *cfg)
{
	assert_int_equal(setenv(name, value, 1), 0);
	load_ok(cfg);
	assert_int_equal(unsetenv(name), 0);
}

static void
defaults_when_nothing_is_set(void **state)
{
	struct config	 cfg;

	(void)state;
	load_ok(&cfg);
	assert_string_equal(cfg.redis, "127.0.0.1:6379");
	assert_string_equal(cfg.redis_addr.host, "127.0.0.1");
	assert_int_equal(cfg.redis_addr.port, 6379);
	assert_null(cfg.redis_addr.socket);
	assert_string_equal(cfg.sentinel_user, "");
	assert_string_equal(cfg.sentinel_password, "");
	assert_string_equal(cfg.redis_allowed, "");
	assert_int_equal(cfg.login_max_fails_user, 20);
	assert_int_equal(cfg.login_max_fails_source, 100);
	assert_int_equal(cfg.signup_max, 20);
	assert_int_equal(cfg.signup_window, 3600);
	assert_int_equal(cfg.hash_concurrency, 2);
	assert_int_equal(cfg.hash_wait_ms, 1000);
	assert_int_equal(cfg.hash_nice, 10);
	assert_int_equal(cfg.sandbox, 1);
	assert_string_equal(cfg.sentinels, "");
	assert_int_equal(cfg.nsentinels, 0);
	assert_string_equal(cfg.sentinel_master, "shoal");
	assert_string_equal(cfg.redis_user, "");
	assert_string_equal(cfg.redis_password, "");
	assert_string_equal(cfg.redis_password_file, "");
	assert_string_equal(cfg.asset_manifest, "");
	assert_int_equal(cfg.login_max_fails, 5);
	assert_int_equal(cfg.login_window, 900);
	assert_string_equal(cfg.trusted_proxies, "");
	assert_string_equal(cfg.keyring, "");
	assert_int_equal(cfg.threads, 4);
	assert_int_equal(cfg.session_idle, 1800);
	assert_int_equal(cfg.session_max, 604800);
	assert_int_equal(cfg.remember_idle, 2592000);
	assert_int_equal(cfg.remember_max, 7776000);
	assert_int_equal(cfg.guest_idle, 86400);
	assert_int_equal(cfg.guest_max, 604800);
	assert_int_equal(cfg.guest_max_bytes, 4096);
	assert_int_equal(cfg.guest_rate, 30);
	assert_string_equal(cfg.cookie_name, "sid");
	assert_int_equal(cfg.cookie_secure, 1);
	assert_string_equal(cfg.static_base, "/static");
	assert_int_equal(cfg.max_body, 65536);
	assert_int_equal(cfg.max_cookie, 4096);
	assert_string_equal(cfg.key_prefix, "shoal:");
	assert_int_equal(cfg.served_by, 0);
	assert_int_equal(cfg.redis_timeout_ms, 500);
	assert_int_equal(cfg.drain_seconds, 20);
	assert_string_equal(cfg.session_cookie, "__Host-sid");
	assert_string_equal(cfg.csrf_cookie, "__Host-sid_csrf");
	assert_string_equal(cfg.flash_cookie, "__Host-sid_flash");
	config_free(&cfg);
	assert_null(cfg.redis);
	assert_null(cfg.flash_cookie);
}

static void
values_are_read(void **state)
{
	struct config	 cfg;

	(void)state;
	setenv("SHOAL_THREADS", "256", 1);
	setenv("SHOAL_SESSION_IDLE", "60", 1);
	setenv("SHOAL_SESSION_MAX", "60", 1);	/* equal is fine */
	setenv("SHOAL_REDIS_PASSWORD", "s3cret", 1);
	setenv("SHOAL_KEYRING", "/etc/shoal/keyring", 1);
	setenv("SHOAL_MAX_BODY", "0", 1);
	setenv("SHOAL_SERVED_BY", "1", 1);
	setenv("SHOAL_KEY_PREFIX", "", 1);
	setenv("SHOAL_STATIC_BASE", "https://cdn.example.com/a", 1);
	load_ok(&cfg);
	assert_int_equal(cfg.threads, 256);
	assert_int_equal(cfg.session_idle, 60);
	assert_int_equal(cfg.session_max, 60);
	assert_string_equal(cfg.redis_password, "s3cret");
	assert_string_equal(cfg.keyring, "/etc/shoal/keyring");
	assert_int_equal(cfg.max_body, 0);
	assert_int_equal(cfg.served_by, 1);
	assert_string_equal(cfg.key_prefix, "");
	assert_string_equal(cfg.static_base, "https://cdn.example.com/a");
	config_free(&cfg);
}

static void
threads_must_be_a_plain_number_in_range(void **state)
{
	static const char *const bad[] = {
		"0", "257", "abc", " 4", "4x", "", "-1", "+4", "4 ", "0x10",
		"4.0", "99999999999999999999999", "-99999999999999999999999",
	};
	struct config	 cfg;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		load_fails("SHOAL_THREADS", bad[i]);
	load_accepts("SHOAL_THREADS", "1", &cfg);
	assert_int_equal(cfg.threads, 1);
	config_free(&cfg);
	load_accepts("SHOAL_THREADS", "007", &cfg);
	assert_int_equal(cfg.threads, 7);
	config_free(&cfg);
}

/* " 4" is refused; so must every other kind of leading white space be. */
static void
threads_leading_whitespace_is_rejected(void **state)
{
	static const char *const bad[] = { " 4", "\t4", "\n4", "\v4", "\r4" };
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		load_fails("SHOAL_THREADS", bad[i]);
}

static void
other_numbers_are_range_checked(void **state)
{
	(void)state;
	load_fails("SHOAL_SESSION_IDLE", "0");
	load_fails("SHOAL_SESSION_MAX", "315360001");
	load_fails("SHOAL_MAX_BODY", "16777217");
	load_fails("SHOAL_MAX_COOKIE", "255");
	load_fails("SHOAL_MAX_COOKIE", "65537");
	load_fails("SHOAL_REDIS_TIMEOUT_MS", "9");
	load_fails("SHOAL_DRAIN_SECONDS", "3601");
	load_fails("SHOAL_SERVED_BY", "2");
	load_fails("SHOAL_COOKIE_SECURE", "yes");
	load_fails("SHOAL_COOKIE_SECURE", "-1");
}

static void
idle_longer_than_max_is_rejected(void **state)
{
	(void)state;
	setenv("SHOAL_SESSION_MAX", "100", 1);
	load_fails("SHOAL_SESSION_IDLE", "101");
	/* Against the default maximum too. */
	unsetenv("SHOAL_SESSION_MAX");
	load_fails("SHOAL_SESSION_IDLE", "604801");
}

/* The same for the lifetimes of remembered and guest sessions: the error
 * names the setting that was given, and only its own pair counts. */
static void
remember_and_guest_idle_longer_than_max_is_rejected(void **state)
{
	static const char *const pairs[][2] = {
		{ "SHOAL_REMEMBER_IDLE", "SHOAL_REMEMBER_MAX" },
		{ "SHOAL_GUEST_IDLE", "SHOAL_GUEST_MAX" },
	};
	struct config	 cfg;
	const char	*err;
	size_t		 i;

	(void)state;
	for (i = 0; i < 2; i++) {
		setenv(pairs[i][1], "100", 1);
		err = load_fails(pairs[i][0], "101");
		assert_non_null(strstr(err, pairs[i][1]));
		load_accepts(pairs[i][0], "100", &cfg);	/* equal is fine */
		config_free(&cfg);
		/* A maximum set below the default idle time. */
		unsetenv(pairs[i][1]);
		setenv(pairs[i][0], "100", 1);
		err = load_fails(pairs[i][1], "99");
		assert_non_null(strstr(err, pairs[i][0]));
		unsetenv(pairs[i][0]);
		err = load_fails(pairs[i][1], "1");
		assert_non_null(strstr(err, pairs[i][0]));
	}
	/* Against the default maxima. */
	load_fails("SHOAL_REMEMBER_IDLE", "7776001");
	load_fails("SHOAL_GUEST_IDLE", "604801");
	load_accepts("SHOAL_GUEST_IDLE", "604800", &cfg);
	config_free(&cfg);
	/* The session's pair does not bind the others. */
	setenv("SHOAL_SESSION_IDLE", "60", 1);
	setenv("SHOAL_SESSION_MAX", "60", 1);
	setenv("SHOAL_GUEST_IDLE", "600", 1);
	setenv("SHOAL_GUEST_MAX", "600", 1);
	load_ok(&cfg);
	assert_int_equal(cfg.remember_idle, 2592000);
	assert_int_equal(cfg.guest_idle, 600);
	assert_int_equal(cfg.guest_max, 600);
	config_free(&cfg);
}

/* Each new setting at its bounds: the ends are accepted, one past is not.
 * An idle time is tried with its maximum raised out of the way. */
static void
remember_and_guest_settings_are_range_checked(void **state)
{
	static const struct {
		const char	*name, *min, *max, *below, *above;
		size_t		 off;
		const char	*with;
	} settings[] = {
		{ "SHOAL_REMEMBER_IDLE", "1", "31536000", "0", "31536001",
		  offsetof(struct config, remember_idle),
		  "SHOAL_REMEMBER_MAX" },
		{ "SHOAL_REMEMBER_MAX", "2592000", "315360000", "0",
		  "315360001", offsetof(struct config, remember_max), NULL },
		{ "SHOAL_GUEST_IDLE", "1", "31536000", "0", "31536001",
		  offsetof(struct config, guest_idle), "SHOAL_GUEST_MAX" },
		{ "SHOAL_GUEST_MAX", "86400", "315360000", "0", "315360001",
		  offsetof(struct config, guest_max), NULL },
		{ "SHOAL_GUEST_MAX_BYTES", "64", "16384", "63", "16385",
		  offsetof(struct config, guest_max_bytes), NULL },
		{ "SHOAL_GUEST_RATE", "1", "1000000", "0", "1000001",
		  offsetof(struct config, guest_rate), NULL },
	};
	struct config	 cfg;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof settings / sizeof settings[0]; i++) {
		if (settings[i].with != NULL)
			setenv(settings[i].with, "315360000", 1);
		load_accepts(settings[i].name, settings[i].min, &cfg);
		assert_int_equal(*(long *)((char *)&cfg + settings[i].off),
		    atol(settings[i].min));
		config_free(&cfg);
		load_accepts(settings[i].name, settings[i].max, &cfg);
		assert_int_equal(*(long *)((char *)&cfg + settings[i].off),
		    atol(settings[i].max));
		config_free(&cfg);
		load_fails(settings[i].name, settings[i].below);
		load_fails(settings[i].name, settings[i].above);
		load_fails(settings[i].name, "-1");
		load_fails(settings[i].name, "1e3");
		load_fails(settings[i].name, "");
		if (settings[i].with != NULL)
			unsetenv(settings[i].with);
	}
}

static void
redis_address_forms(void **state)
{
	struct config	 cfg;

	(void)state;
	load_fails("SHOAL_REDIS", "nohost");
	load_fails("SHOAL_REDIS", "host:0");
	load_fails("SHOAL_REDIS", "host:70000");
	load_fails("SHOAL_REDIS", "host:65536");
	load_fails("SHOAL_REDIS", "host:");
	load_fails("SHOAL_REDIS", ":6379");
	load_fails("SHOAL_REDIS", "host:63a");
	load_fails("SHOAL_REDIS", "host: 6379");
	load_fails("SHOAL_REDIS", "relative/sock");
	load_fails("SHOAL_REDIS", "");
	load_fails("SHOAL_REDIS", "[::1");
	load_fails("SHOAL_REDIS", "[]:6379");
	load_fails("SHOAL_REDIS", "[::1:6379");

	load_accepts("SHOAL_REDIS", "/tmp/sock", &cfg);
	assert_string_equal(cfg.redis_addr.socket, "/tmp/sock");
	assert_null(cfg.redis_addr.host);
	config_free(&cfg);

	load_accepts("SHOAL_REDIS", "[::1]:6379", &cfg);
	assert_string_equal(cfg.redis_addr.host, "::1");
	assert_int_equal(cfg.redis_addr.port, 6379);
	assert_null(cfg.redis_addr.socket);
	config_free(&cfg);

	load_accepts("SHOAL_REDIS", "redis.internal:65535", &cfg);
	assert_string_equal(cfg.redis_addr.host, "redis.internal");
	assert_int_equal(cfg.redis_addr.port, 65535);
	config_free(&cfg);

	load_accepts("SHOAL_REDIS", "h:1", &cfg);
	assert_string_equal(cfg.redis_addr.host, "h");
	assert_int_equal(cfg.redis_addr.port, 1);
	config_free(&cfg);
}

/* The metrics address and folder: both or neither, checked at start. */
static void
metrics_settings_go_together(void **state)
{
	struct config	 cfg;

	(void)state;
	load_ok(&cfg);
	assert_string_equal(cfg.metrics_listen, "");
	config_free(&cfg);
	load_fails("SHOAL_METRICS_DIR", "/run/m");
	assert_int_equal(setenv("SHOAL_METRICS_DIR", "/run/m", 1), 0);
	load_fails("SHOAL_METRICS_LISTEN", "nohost");
	load_fails("SHOAL_METRICS_LISTEN", "host:0");
	load_fails("SHOAL_METRICS_LISTEN", "/tmp/sock");
	load_fails("SHOAL_METRICS_LISTEN", "[::1");
	load_accepts("SHOAL_METRICS_LISTEN", "[::1]:9100", &cfg);
	assert_string_equal(cfg.metrics_addr.host, "::1");
	assert_int_equal(cfg.metrics_addr.port, 9100);
	config_free(&cfg);
	assert_int_equal(setenv("SHOAL_METRICS_LISTEN", "127.0.0.1:9100", 1),
	    0);
	load_fails("SHOAL_METRICS_DIR", "relative/m");
	load_fails("SHOAL_METRICS_DIR", "");
	assert_int_equal(unsetenv("SHOAL_METRICS_LISTEN"), 0);
}

/* Lists of addresses and CIDR blocks are checked at start. */
static void
address_lists_are_checked(void **state)
{
	struct config	 cfg;
	const char	*err;

	(void)state;
	load_accepts("SHOAL_REDIS_ALLOWED", "10.0.0.0/8,::1,192.0.2.7", &cfg);
	assert_string_equal(cfg.redis_allowed, "10.0.0.0/8,::1,192.0.2.7");
	config_free(&cfg);
	err = load_fails("SHOAL_REDIS_ALLOWED", "redis.internal");
	assert_non_null(strstr(err, "addresses or CIDR blocks"));
	load_fails("SHOAL_REDIS_ALLOWED", "10.0.0.0/33");
	load_fails("SHOAL_REDIS_ALLOWED", "10.0.0.1,,10.0.0.2");
	unsetenv("SHOAL_REDIS_ALLOWED");
	load_fails("SHOAL_TRUSTED_PROXIES", "10.0.0.0/8,nginx");
	unsetenv("SHOAL_TRUSTED_PROXIES");
}

static void
sentinels_are_a_list_of_host_ports(void **state)
{
	struct config	 cfg;

	(void)state;
	load_accepts("SHOAL_SENTINELS", "s1:26379,[::1]:26380,s3:1", &cfg);
	assert_int_equal(cfg.nsentinels, 3);
	assert_string_equal(cfg.sentinel_addr[0].host, "s1");
	assert_int_equal(cfg.sentinel_addr[0].port, 26379);
	assert_string_equal(cfg.sentinel_addr[1].host, "::1");
	assert_int_equal(cfg.sentinel_addr[1].port, 26380);
	assert_string_equal(cfg.sentinel_addr[2].host, "s3");
	config_free(&cfg);
	load_accepts("SHOAL_SENTINELS",
	    "a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8", &cfg);
	assert_int_equal(cfg.nsentinels, CONFIG_MAX_SENTINELS);
	config_free(&cfg);
	load_fails("SHOAL_SENTINELS", "a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9");
	load_fails("SHOAL_SENTINELS", "s1");
	load_fails("SHOAL_SENTINELS", "s1:26379,s2");
	load_fails("SHOAL_SENTINELS", "s1:26379,,s2:26379");
	load_fails("SHOAL_SENTINELS", ",s1:26379");
	/* Sentinels are reached over TCP only. */
	load_fails("SHOAL_SENTINELS", "/run/sentinel.sock");
	load_fails("SHOAL_SENTINEL_MASTER", "");
}

static void
cluster_seeds_are_a_list_and_exclude_sentinels(void **state)
{
	struct config	 cfg;

	(void)state;
	load_accepts("SHOAL_REDIS_CLUSTER", "n1:7001,[::1]:7002", &cfg);
	assert_int_equal(cfg.ncluster_seeds, 2);
	assert_string_equal(cfg.cluster_seed[0].host, "n1");
	assert_int_equal(cfg.cluster_seed[0].port, 7001);
	assert_string_equal(cfg.cluster_seed[1].host, "::1");
	assert_int_equal(cfg.nsentinels, 0);
	config_free(&cfg);
	load_fails("SHOAL_REDIS_CLUSTER", "n1:7001,n2");
	load_fails("SHOAL_REDIS_CLUSTER", "/run/redis.sock");
	load_fails("SHOAL_REDIS_CLUSTER", "a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,"
	    "i:9,j:10,k:11,l:12,m:13,n:14,o:15,p:16,q:17");
	/* A cluster fails over by itself: never with Sentinels. */
	setenv("SHOAL_SENTINELS", "s1:26379", 1);
	load_fails("SHOAL_REDIS_CLUSTER", "n1:7001");
	unsetenv("SHOAL_SENTINELS");
}

/* Writes content to a new file under /tmp; returns its path. */
static const char *
temp_file(const char *content)
{
	static char	 path[64];
	FILE		*f;
	int		 fd;

	snprintf(path, sizeof path, "/tmp/shoal-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

/* The Sentinel password: from the variable or a file, not both; a user
 * needs one. */
static void
sentinel_credentials(void **state)
{
	struct config	 cfg;
	const char	*path, *err;

	(void)state;
	path = temp_file("sentinel-secret\n");
	load_accepts("SHOAL_SENTINEL_PASSWORD_FILE", path, &cfg);
	assert_string_equal(cfg.sentinel_password, "sentinel-secret");
	config_free(&cfg);
	setenv("SHOAL_SENTINEL_PASSWORD", "x", 1);
	err = load_fails("SHOAL_SENTINEL_PASSWORD_FILE", path);
	assert_non_null(strstr(err, "SHOAL_SENTINEL_PASSWORD;"));
	unsetenv("SHOAL_SENTINEL_PASSWORD");
	unsetenv("SHOAL_SENTINEL_PASSWORD_FILE");
	unlink(path);
	err = load_fails("SHOAL_SENTINEL_USER", "shoal");
	assert_non_null(strstr(err, "needs a password"));
	unsetenv("SHOAL_SENTINEL_USER");
}

static void
password_from_file(void **state)
{
	struct config	 cfg;
	const char	*path;

	(void)state;
	path = temp_file("s3cret pass\nsecond line\n");
	load_accepts("SHOAL_REDIS_PASSWORD_FILE", path, &cfg);
	assert_string_equal(cfg.redis_password, "s3cret pass");
	config_free(&cfg);
	unlink(path);

	path = temp_file("crlf\r\n");
	load_accepts("SHOAL_REDIS_PASSWORD_FILE", path, &cfg);
	assert_string_equal(cfg.redis_password, "crlf");
	config_free(&cfg);
	unlink(path);

	path = temp_file("no-newline");
	load_accepts("SHOAL_REDIS_PASSWORD_FILE", path, &cfg);
	assert_string_equal(cfg.redis_password, "no-newline");
	config_free(&cfg);
	unlink(path);
}

static void
password_file_errors(void **state)
{
	const char	*path, *err;
	char		 big[600];

	(void)state;
	err = load_fails("SHOAL_REDIS_PASSWORD_FILE",
	    "/tmp/shoal-config-does-not-exist");
	assert_non_null(strstr(err, "/tmp/shoal-config-does-not-exist"));
	path = temp_file("");
	load_fails("SHOAL_REDIS_PASSWORD_FILE", path);
	unlink(path);
	path = temp_file("\npassword on line two\n");
	load_fails("SHOAL_REDIS_PASSWORD_FILE", path);
	unlink(path);
	memset(big, 'p', 513);
	big[513] = '\0';
	path = temp_file(big);
	load_fails("SHOAL_REDIS_PASSWORD_FILE", path);
	unlink(path);
	/* Both the variable and the file. */
	path = temp_file("filepass\n");
	setenv("SHOAL_REDIS_PASSWORD", "envpass", 1);
	load_fails("SHOAL_REDIS_PASSWORD_FILE", path);
	unlink(path);
}

static void
redis_user_needs_a_password(void **state)
{
	struct config	 cfg;

	(void)state;
	load_fails("SHOAL_REDIS_USER", "shoal");
	setenv("SHOAL_REDIS_PASSWORD", "pw", 1);
	load_accepts("SHOAL_REDIS_USER", "shoal", &cfg);
	assert_string_equal(cfg.redis_user, "shoal");
	assert_string_equal(cfg.redis_password, "pw");
	config_free(&cfg);
}

static void
login_limits_are_range_checked(void **state)
{
	(void)state;
	load_fails("SHOAL_LOGIN_MAX_FAILS", "0");
	load_fails("SHOAL_LOGIN_MAX_FAILS", "1001");
	load_fails("SHOAL_LOGIN_WINDOW", "0");
	load_fails("SHOAL_LOGIN_WINDOW", "86401");
}

static void
cookie_name_must_be_a_token(void **state)
{
	static const char *const bad[] = {
		"a;b", "a b", "a=b", "a,b", "", "\"sid\"", "s\xc3\xa9", "a\tb",
	};
	char		 longname[66];
	struct config	 cfg;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		load_fails("SHOAL_COOKIE_NAME", bad[i]);
	memset(longname, 'c', 65);
	longname[65] = '\0';
	load_fails("SHOAL_COOKIE_NAME", longname);
	longname[64] = '\0';
	load_accepts("SHOAL_COOKIE_NAME", longname, &cfg);
	config_free(&cfg);
	load_accepts("SHOAL_COOKIE_NAME", "my_app-Sess1", &cfg);
	assert_string_equal(cfg.session_cookie, "__Host-my_app-Sess1");
	config_free(&cfg);
}

static void
secure_cookies_carry_host_prefix(void **state)
{
	struct config	 cfg;

	(void)state;
	load_accepts("SHOAL_COOKIE_SECURE", "1", &cfg);
	assert_int_equal(cfg.cookie_secure, 1);
	assert_string_equal(cfg.session_cookie, "__Host-sid");
	assert_string_equal(cfg.csrf_cookie, "__Host-sid_csrf");
	config_free(&cfg);
	load_accepts("SHOAL_COOKIE_SECURE", "0", &cfg);
	assert_int_equal(cfg.cookie_secure, 0);
	assert_string_equal(cfg.session_cookie, "sid");
	assert_string_equal(cfg.csrf_cookie, "sid_csrf");
	assert_string_equal(cfg.flash_cookie, "sid_flash");
	config_free(&cfg);
	setenv("SHOAL_COOKIE_NAME", "app", 1);
	load_accepts("SHOAL_COOKIE_SECURE", "0", &cfg);
	assert_string_equal(cfg.session_cookie, "app");
	assert_string_equal(cfg.csrf_cookie, "app_csrf");
	assert_string_equal(cfg.flash_cookie, "app_flash");
	config_free(&cfg);
	load_accepts("SHOAL_COOKIE_SECURE", "1", &cfg);
	assert_string_equal(cfg.flash_cookie, "__Host-app_flash");
	config_free(&cfg);
}

static void
key_prefix_without_braces_or_space(void **state)
{
	char		 p[66];
	struct config	 cfg;

	(void)state;
	load_fails("SHOAL_KEY_PREFIX", "a{b");
	load_fails("SHOAL_KEY_PREFIX", "a}b");
	load_fails("SHOAL_KEY_PREFIX", "{x}:");
	load_fails("SHOAL_KEY_PREFIX", "a b");
	load_fails("SHOAL_KEY_PREFIX", "a\nb");
	memset(p, 'k', 65);
	p[65] = '\0';
	load_fails("SHOAL_KEY_PREFIX", p);
	p[64] = '\0';
	load_accepts("SHOAL_KEY_PREFIX", p, &cfg);
	config_free(&cfg);
}

static void
static_base_without_quotes_or_markup(void **state)
{
	(void)state;
	load_fails("SHOAL_STATIC_BASE", "/st\"atic");
	load_fails("SHOAL_STATIC_BASE", "/st'atic");
	load_fails("SHOAL_STATIC_BASE", "/<script>");
	load_fails("SHOAL_STATIC_BASE", "/a b");
	load_fails("SHOAL_STATIC_BASE", "/a\tb");
}

/*
 * The error line is one line even when the value is not: a value with a
 * newline must not split the log line (or forge a second one).
 */
static void
error_line_has_no_newline_even_for_multiline_values(void **state)
{
	(void)state;
	load_fails("SHOAL_THREADS", "4\n{\"level\":\"info\"}");
	load_fails("SHOAL_COOKIE_SECURE", "1\r\n");
	load_fails("SHOAL_REDIS", "host:6379\nx");
	load_fails("SHOAL_REDIS", "no\nport");
}

static void
error_fits_small_buffers(void **state)
{
	struct config	 cfg;
	char		 err[16];

	(void)state;
	setenv("SHOAL_THREADS", "abcdefghijklmnopqrstuvwxyz", 1);
	memset(err, 'x', sizeof err);
	assert_int_equal(config_load(&cfg, err, sizeof err), -1);
	assert_non_null(memchr(err, '\0', sizeof err));
	unsetenv("SHOAL_THREADS");
}

/* Every setting, as --help must list it. */
static const char *const settings[] = {
	"SHOAL_REDIS", "SHOAL_SENTINELS", "SHOAL_REDIS_CLUSTER",
	"SHOAL_SENTINEL_MASTER", "SHOAL_SENTINEL_USER",
	"SHOAL_SENTINEL_PASSWORD", "SHOAL_SENTINEL_PASSWORD_FILE",
	"SHOAL_REDIS_ALLOWED", "SHOAL_REDIS_USER",
	"SHOAL_REDIS_PASSWORD", "SHOAL_REDIS_PASSWORD_FILE",
	"SHOAL_KEYRING", "SHOAL_ASSET_MANIFEST",
	"SHOAL_LOGIN_MAX_FAILS", "SHOAL_LOGIN_WINDOW",
	"SHOAL_LOGIN_MAX_FAILS_USER", "SHOAL_LOGIN_MAX_FAILS_SOURCE",
	"SHOAL_SIGNUP_MAX", "SHOAL_SIGNUP_WINDOW",
	"SHOAL_HASH_CONCURRENCY", "SHOAL_HASH_WAIT_MS", "SHOAL_HASH_NICE",
	"SHOAL_TRUSTED_PROXIES",
	"SHOAL_THREADS", "SHOAL_SESSION_IDLE", "SHOAL_SESSION_MAX",
	"SHOAL_DRAIN_DELAY_MS",
	"SHOAL_REMEMBER_IDLE", "SHOAL_REMEMBER_MAX",
	"SHOAL_GUEST_IDLE", "SHOAL_GUEST_MAX",
	"SHOAL_GUEST_MAX_BYTES", "SHOAL_GUEST_RATE",
	"SHOAL_COOKIE_NAME", "SHOAL_COOKIE_SECURE", "SHOAL_STATIC_BASE",
	"SHOAL_MAX_BODY", "SHOAL_MAX_COOKIE", "SHOAL_KEY_PREFIX",
	"SHOAL_SERVED_BY", "SHOAL_REDIS_TIMEOUT_MS",
	"SHOAL_DRAIN_SECONDS", "SHOAL_SANDBOX",
	"SHOAL_METRICS_LISTEN", "SHOAL_METRICS_DIR",
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static void
usage_lists_every_setting(void **state)
{
	char	*text = NULL;
	size_t	 len = 0, i;
	FILE	*f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	config_usage(f);
	fclose(f);
	for (i = 0; i < NSETTINGS; i++) {
		char	 pat[64];

		snprintf(pat, sizeof pat, "  %s ", settings[i]);
		if (strstr(text, pat) == NULL)
			fail_msg("--help does not list %s", settings[i]);
	}
	assert_non_null(strstr(text, "[default: 4]"));
	free(text);
}

/* What config_unknown reported: its lines, in order. */
struct warnings {
	char	 line[8][256];
	size_t	 n;
};

static void
collect(const char *line, void *arg)
{
	struct warnings	*w = arg;

	if (w->n < 8)
		snprintf(w->line[w->n], sizeof w->line[0], "%s", line);
	w->n++;
}

static size_t
unknown_in(char *const *env, struct warnings *w)
{
	size_t	 n, i;

	memset(w, 0, sizeof *w);
	n = config_unknown(env, collect, w);
	assert_int_equal(n, w->n);
	for (i = 0; i < w->n && i < 8; i++) {
		if (strchr(w->line[i], '\n') != NULL ||
		    strchr(w->line[i], '\r') != NULL)
			fail_msg("warning is not one line: \"%s\"", w->line[i]);
	}
	return n;
}

/* The line names the variable first, as the error lines do. */
static void
assert_names(const struct warnings *w, size_t i, const char *name)
{
	char	 want[128];

	snprintf(want, sizeof want, "%s: ", name);
	if (strncmp(w->line[i], want, strlen(want)) != 0)
		fail_msg("warning %zu does not name %s first: \"%s\"", i, name,
		    w->line[i]);
	assert_non_null(strstr(w->line[i], "not a setting"));
}

static void
misspelt_setting_is_named_once(void **state)
{
	char	*env[] = { "PATH=/usr/bin", "SHOAL_THREADS=4",
	    "SHOAL_TRHEADS=8", "HOME=/root", "SHOAL_TRHEADS=9", NULL };
	struct warnings	 w;

	(void)state;
	assert_int_equal(unknown_in(env, &w), 1);
	assert_names(&w, 0, "SHOAL_TRHEADS");
}

static void
every_setting_gives_no_warning(void **state)
{
	char		 text[NSETTINGS][64];
	char		*env[NSETTINGS + 5];
	struct warnings	 w;
	size_t		 i;

	(void)state;
	for (i = 0; i < NSETTINGS; i++) {
		snprintf(text[i], sizeof text[i], "%s=1", settings[i]);
		env[i] = text[i];
	}
	/* Not SHOAL_*: not ours to judge. */
	env[i++] = "shoal_threads=4";
	env[i++] = "XSHOAL_THREADS=4";
	env[i++] = "PATH=/usr/bin";
	env[i++] = "INTEGRATION_SCALE=1";
	env[i] = NULL;
	assert_int_equal(unknown_in(env, &w), 0);
	assert_int_equal(unknown_in(NULL, &w), 0);
}

/* A name is a setting only whole: a prefix or an extension of one is not. */
static void
near_names_are_not_settings(void **state)
{
	char	*env[] = { "SHOAL_THREAD=4", "SHOAL_THREADS_=4", "SHOAL_=1",
	    "SHOAL_REDIS_PASSWORD_FILE_X=/x", "SHOAL_REDIS=127.0.0.1:1",
	    "SHOAL_NO_VALUE", NULL };
	struct warnings	 w;

	(void)state;
	assert_int_equal(unknown_in(env, &w), 5);
	assert_names(&w, 0, "SHOAL_THREAD");
	assert_names(&w, 1, "SHOAL_THREADS_");
	assert_names(&w, 2, "SHOAL_");
	assert_names(&w, 3, "SHOAL_REDIS_PASSWORD_FILE_X");
	/* An entry without '=' (not from a real environment) is a name. */
	assert_names(&w, 4, "SHOAL_NO_VALUE");
}

/* Whatever a name holds, the warning stays one short line. */
static void
hostile_names_stay_one_short_line(void **state)
{
	char		 long_name[300];
	char		*env[] = { "SHOAL_A\nB=1", long_name, NULL };
	struct warnings	 w;

	(void)state;
	memset(long_name, 'X', sizeof long_name);
	memcpy(long_name, "SHOAL_", 6);
	memcpy(long_name + 200, "=1", 3);
	assert_int_equal(unknown_in(env, &w), 2);
	assert_names(&w, 0, "SHOAL_A?B");
	assert_int_equal(strncmp(w.line[1], long_name, 64), 0);
	assert_int_equal(strncmp(w.line[1] + 64, "...: ", 5), 0);
}

/* In the process's own environment, and it stops nothing: config_load
 * still takes the settings. */
static void
unknown_names_in_the_environment_do_not_stop_the_worker(void **state)
{
	struct config	 cfg;
	struct warnings	 w;

	(void)state;
	assert_int_equal(setenv("SHOAL_THREADS", "7", 1), 0);
	assert_int_equal(setenv("SHOAL_SESION_IDLE", "60", 1), 0);
	assert_int_equal(unknown_in(environ, &w), 1);
	assert_names(&w, 0, "SHOAL_SESION_IDLE");
	load_ok(&cfg);
	assert_int_equal(cfg.threads, 7);
	assert_int_equal(cfg.session_idle, 1800);
	config_free(&cfg);
	unsetenv("SHOAL_SESION_IDLE");
	unsetenv("SHOAL_THREADS");
	assert_int_equal(unknown_in(environ, &w), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(defaults_when_nothing_is_set, clear_env),
		cmocka_unit_test_setup(values_are_read, clear_env),
		cmocka_unit_test_setup(threads_must_be_a_plain_number_in_range,
		    clear_env),
		cmocka_unit_test_setup(threads_leading_whitespace_is_rejected,
		    clear_env),
		cmocka_unit_test_setup(other_numbers_are_range_checked,
		    clear_env),
		cmocka_unit_test_setup(idle_longer_than_max_is_rejected,
		    clear_env),
		cmocka_unit_test_setup(
		    remember_and_guest_idle_longer_than_max_is_rejected,
		    clear_env),
		cmocka_unit_test_setup(
		    remember_and_guest_settings_are_range_checked, clear_env),
		cmocka_unit_test_setup(redis_address_forms, clear_env),
		cmocka_unit_test_setup(address_lists_are_checked, clear_env),
		cmocka_unit_test_setup(metrics_settings_go_together, clear_env),
		cmocka_unit_test_setup(sentinel_credentials, clear_env),
		cmocka_unit_test_setup(sentinels_are_a_list_of_host_ports,
		    clear_env),
		cmocka_unit_test_setup(
		    cluster_seeds_are_a_list_and_exclude_sentinels, clear_env),
		cmocka_unit_test_setup(password_from_file, clear_env),
		cmocka_unit_test_setup(password_file_errors, clear_env),
		cmocka_unit_test_setup(redis_user_needs_a_password, clear_env),
		cmocka_unit_test_setup(login_limits_are_range_checked,
		    clear_env),
		cmocka_unit_test_setup(cookie_name_must_be_a_token, clear_env),
		cmocka_unit_test_setup(secure_cookies_carry_host_prefix,
		    clear_env),
		cmocka_unit_test_setup(key_prefix_without_braces_or_space,
		    clear_env),
		cmocka_unit_test_setup(static_base_without_quotes_or_markup,
		    clear_env),
		cmocka_unit_test_setup(
		    error_line_has_no_newline_even_for_multiline_values,
		    clear_env),
		cmocka_unit_test_setup(error_fits_small_buffers, clear_env),
		cmocka_unit_test_setup(usage_lists_every_setting, clear_env),
		cmocka_unit_test_setup(misspelt_setting_is_named_once,
		    clear_env),
		cmocka_unit_test_setup(every_setting_gives_no_warning,
		    clear_env),
		cmocka_unit_test_setup(near_names_are_not_settings, clear_env),
		cmocka_unit_test_setup(hostile_names_stay_one_short_line,
		    clear_env),
		cmocka_unit_test_setup(
		    unknown_names_in_the_environment_do_not_stop_the_worker,
		    clear_env),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
