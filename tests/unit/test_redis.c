/*
 * test_redis.c - redis.h: the batch executor against a real redis-server,
 * which the test starts on a free loopback port below the kernel's
 * ephemeral range and stops by its pid.
 *
 * What it shows: a connection Redis closed while idle is replaced before a
 * write is sent on it; one closed in the middle of a batch is retried once
 * when the batch is idempotent and never otherwise; a script Redis forgot is
 * sent again by source whether it is first, in the middle or last in a
 * batch, and every reply lands in its place; a timeout is not retried;
 * READONLY, NOPERM and a refused connection each give their fault and the
 * status a request answers with.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis.h>

#include "arena.h"
#include "config.h"
#include "keys.h"
#include "redis.h"
#include "scripts.h"
#include "unit.h"

static char		 tmpdir[] = "/tmp/shoal-test-redis.XXXXXX";
static struct unit_redis primary;
static struct arena	 arena;

static int
group_setup(void **state)
{
	(void)state;
	return unit_redis_group_start(&primary, tmpdir);
}

static int
group_teardown(void **state)
{
	(void)state;
	return unit_redis_group_stop(&primary, tmpdir);
}

static int
setup(void **state)
{
	(void)state;
	arena_init(&arena);
	unit_redis_run(primary.port, "FLUSHALL");
	unit_redis_run(primary.port, "SCRIPT FLUSH");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	arena_free(&arena);
	return 0;
}

static void
key(struct redis_key *k, const char *name)
{
	key_user(k, "test:", name);
}

/* A connection to the primary, made and proven by a PING. */
static struct redis *
connected(struct config *cfg, const char *timeout_ms)
{
	struct redis		*s;
	struct redis_batch	 b;

	unit_redis_config(cfg, primary.port, NULL, NULL, timeout_ms);
	s = redis_new(cfg);
	redis_batch_init(&b, &arena, 1);
	redis_ping(&b);
	assert_int_equal(redis_run(s, &b), 0);
	return s;
}

static const struct redis_value *
one(struct redis *s, struct redis_batch *b, size_t i)
{
	assert_int_equal(redis_run(s, b), 0);
	assert_int_equal(redis_fault(s), REDIS_FAULT_NONE);
	return &b->reply[i];
}

static void
typed_commands_round_trip(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	struct redis_key	 k;
	size_t			 set, get, ttl, again, del, ping;
	const unsigned char	 binary[] = { 'a', 0, 'b', 0xff };

	(void)state;
	unit_redis_config(&cfg, primary.port, NULL, NULL, NULL);
	s = redis_new(&cfg);
	key(&k, "alice");
	redis_batch_init(&b, &arena, 0);
	ping = redis_ping(&b);
	set = redis_set(&b, &k, binary, sizeof binary, REDIS_SET_IF_NEW, 60000);
	again = redis_set(&b, &k, "x", 1, REDIS_SET_IF_NEW, 0);
	get = redis_get(&b, &k);
	ttl = redis_pttl(&b, &k);
	assert_int_equal(redis_run(s, &b), 0);
	unit_assert_string(&b.reply[ping], "PONG");
	unit_assert_string(&b.reply[set], "OK");
	assert_int_equal(b.reply[again].type, REDIS_VALUE_NIL);
	assert_int_equal(b.reply[get].type, REDIS_VALUE_STRING);
	assert_int_equal(b.reply[get].len, sizeof binary);
	assert_memory_equal(b.reply[get].str, binary, sizeof binary);
	assert_true(b.reply[ttl].integer > 50000);

	redis_batch_init(&b, &arena, 0);
	del = redis_del(&b, &k);
	again = redis_del(&b, &k);
	ttl = redis_pttl(&b, &k);
	assert_int_equal(redis_run(s, &b), 0);
	assert_int_equal(b.reply[del].integer, 1);
	assert_int_equal(b.reply[again].integer, 0);
	assert_int_equal(b.reply[ttl].integer, -2);
	redis_free(s);
	config_free(&cfg);
}

/* Sets the record the script read (add_load) will answer. */
static void
put(const char *name, const char *value)
{
	unit_redis_run(primary.port, "SET test:u:{%s} %s", name, value);
}

static size_t
add_load(struct redis_batch *b, const char *name)
{
	struct redis_key	*k = arena_alloc(b->arena, sizeof *k);

	key(k, name);
	/* session_cas with bytes the record never holds writes nothing and
	 * answers with the record. */
	return script_session_cas(b, k, "", 0, "", 0, 60000);
}

static size_t
add_get(struct redis_batch *b, const char *name)
{
	struct redis_key	*k = arena_alloc(b->arena, sizeof *k);

	key(k, name);
	return redis_get(b, k);
}

/*
 * Three commands, the script at position at; SCRIPT FLUSH just before, so
 * Redis answers its EVALSHA with NOSCRIPT. Every reply must be the one of
 * its own command.
 */
static void
noscript_at(int at)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	size_t			 idx[3];
	long long		 before;
	int			 i;

	put("v0", "zero");
	put("v1", "one");
	put("v2", "two");
	s = connected(&cfg, NULL);	/* scripts loaded */
	unit_redis_run(primary.port, "SCRIPT FLUSH");
	before = unit_redis_connections(primary.port);

	redis_batch_init(&b, &arena, 0);
	for (i = 0; i < 3; i++) {
		char	 name[16];

		snprintf(name, sizeof name, "v%d", i);
		idx[i] = i == at ? add_load(&b, name) : add_get(&b, name);
	}
	assert_int_equal(redis_run(s, &b), 0);
	unit_assert_string(&b.reply[idx[0]], "zero");
	unit_assert_string(&b.reply[idx[1]], "one");
	unit_assert_string(&b.reply[idx[2]], "two");
	/* Same connection: NOSCRIPT is not a reason to reconnect. */
	assert_int_equal(unit_redis_new_connections(primary.port, before), 0);
	/* EVAL cached the script again: the next EVALSHA works. */
	redis_batch_init(&b, &arena, 0);
	idx[0] = add_load(&b, "v1");
	unit_assert_string(one(s, &b, idx[0]), "one");
	redis_free(s);
	config_free(&cfg);
}

static void
noscript_script_first(void **state)
{
	(void)state;
	noscript_at(0);
}

static void
noscript_script_in_the_middle(void **state)
{
	(void)state;
	noscript_at(1);
}

static void
noscript_script_last(void **state)
{
	(void)state;
	noscript_at(2);
}

/* Two forgotten scripts in one batch come back in their order. */
static void
noscript_two_scripts(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	size_t			 a, g, c;

	(void)state;
	put("v0", "zero");
	put("v1", "one");
	put("v2", "two");
	s = connected(&cfg, NULL);
	unit_redis_run(primary.port, "SCRIPT FLUSH");
	redis_batch_init(&b, &arena, 1);
	a = add_load(&b, "v0");
	g = add_get(&b, "v1");
	c = add_load(&b, "v2");
	assert_int_equal(redis_run(s, &b), 0);
	unit_assert_string(&b.reply[a], "zero");
	unit_assert_string(&b.reply[g], "one");
	unit_assert_string(&b.reply[c], "two");
	redis_free(s);
	config_free(&cfg);
}

/*
 * Redis restarts while the connection sits idle: even a batch that must
 * not be sent twice succeeds, on a new connection, because the old one is
 * seen closed before anything is written to it.
 */
static void
restart_while_idle_then_a_write_succeeds(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	struct redis_key	 k;
	size_t			 set;

	(void)state;
	s = connected(&cfg, NULL);

	unit_redis_stop(&primary);
	unit_redis_start(&primary, tmpdir, primary.port, NULL);

	key(&k, "after");
	redis_batch_init(&b, &arena, 0);
	set = redis_set(&b, &k, "1", 1, REDIS_SET_IF_NEW, 0);
	unit_assert_string(one(s, &b, set), "OK");
	/* The start's probe, and ours: one connect, no failed attempt. */
	assert_int_equal(unit_redis_connections(primary.port), 2);
	redis_free(s);
	config_free(&cfg);
}

/*
 * The connection is closed while a batch is in flight: BLPOP waits in
 * Redis, and another client kills the connection meanwhile.
 */
struct killer {
	int	 port;
	int	 push;		/* push to the list after the kill */
};

static void *
kill_then_push(void *arg)
{
	struct killer	*k = arg;

	usleep(200000);
	unit_redis_run(k->port, "CLIENT KILL TYPE normal SKIPME yes");
	if (k->push) {
		usleep(200000);
		unit_redis_run(k->port, "RPUSH test:u:{list} item");
	}
	return NULL;
}

static int
blpop_while_killed(struct redis *s, int idempotent, int push,
    struct redis_batch *b)
{
	struct redis_key	 k;
	struct killer		 kl = { primary.port, push };
	pthread_t		 t;
	size_t			 i;
	int			 rc;

	key(&k, "list");
	redis_batch_init(b, &arena, idempotent);
	i = redis_batch_add(b, -1, 0, 3);
	redis_arg(b, i, 0, "BLPOP", 5);
	redis_arg(b, i, 1, k.s, strlen(k.s));
	redis_arg(b, i, 2, "1", 1);
	assert_int_equal(pthread_create(&t, NULL, kill_then_push, &kl), 0);
	rc = redis_run(s, b);
	pthread_join(t, NULL);
	return rc;
}

static void
closed_in_flight_idempotent_is_retried_once(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	long long		 before;

	(void)state;
	s = connected(&cfg, "3000");
	before = unit_redis_connections(primary.port);
	assert_int_equal(blpop_while_killed(s, 1, 1, &b), 0);
	assert_int_equal(b.reply[0].type, REDIS_VALUE_ARRAY);
	assert_int_equal(b.reply[0].n, 2);
	unit_assert_string(&b.reply[0].elem[1], "item");
	/* The retry's, besides the killer's two. */
	assert_int_equal(unit_redis_new_connections(primary.port, before),
	    1 + 2);
	redis_free(s);
	config_free(&cfg);
}

static void
closed_in_flight_write_is_not_retried(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	long long		 before;

	(void)state;
	s = connected(&cfg, "3000");
	before = unit_redis_connections(primary.port);
	assert_int_equal(blpop_while_killed(s, 0, 0, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_CLOSED);
	assert_int_equal(redis_status(s, "test"), SHOAL_UNAVAILABLE);
	/* Only the killer connected. */
	assert_int_equal(unit_redis_new_connections(primary.port, before), 1);
	redis_free(s);
	config_free(&cfg);
}

/* Redis does not answer in time: one wait, no second try. */
static void
timeout_is_not_retried(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	long long		 before;

	(void)state;
	s = connected(&cfg, "100");
	before = unit_redis_connections(primary.port);
	unit_redis_run(primary.port, "CLIENT PAUSE 400 ALL");
	redis_batch_init(&b, &arena, 1);
	add_get(&b, "any");
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_TIMEOUT);
	assert_int_equal(redis_status(s, "test"), SHOAL_UNAVAILABLE);
	/* Only CLIENT PAUSE's. */
	assert_int_equal(unit_redis_new_connections(primary.port, before), 1);
	usleep(500000);
	redis_free(s);
	config_free(&cfg);
}

/* A replica answers a write with READONLY: try again later (503). */
static void
readonly_is_unavailable_and_drops_the_connection(void **state)
{
	struct unit_redis	 replica;
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	struct redis_key	 k;
	char			 extra[64];

	(void)state;
	snprintf(extra, sizeof extra, "--replicaof 127.0.0.1 %d",
	    primary.port);
	unit_redis_start(&replica, tmpdir, 0, extra);
	unit_redis_config(&cfg, replica.port, NULL, NULL, NULL);
	s = redis_new(&cfg);
	key(&k, "ro");
	redis_batch_init(&b, &arena, 0);
	redis_set(&b, &k, "1", 1, REDIS_SET_ALWAYS, 0);
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_ERROR);
	assert_non_null(strstr(redis_errstr(s), "READONLY"));
	assert_int_equal(redis_status(s, "test"), SHOAL_UNAVAILABLE);
	/* Dropped: the next batch would connect anew (after the backoff). */
	redis_batch_init(&b, &arena, 1);
	redis_ping(&b);
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_BACKOFF);
	redis_free(s);
	config_free(&cfg);
	unit_redis_stop(&replica);
}

/* An ACL that forbids what shoal needs is a bug to fix, not a 503. */
static void
noperm_is_internal(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	struct redis_key	 k;

	(void)state;
	unit_redis_run(primary.port, "ACL SETUSER limited on >secretpassword "
	    "~* &* +@all -pttl");
	unit_redis_config(&cfg, primary.port, "limited", "secretpassword",
	    NULL);
	s = redis_new(&cfg);
	key(&k, "n");
	redis_batch_init(&b, &arena, 0);
	redis_pttl(&b, &k);
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_ERROR);
	assert_non_null(strstr(redis_errstr(s), "NOPERM"));
	assert_int_equal(redis_status(s, "test"), SHOAL_INTERNAL);
	redis_free(s);
	config_free(&cfg);
	unit_redis_run(primary.port, "ACL DELUSER limited");
}

/* Nobody listens: the connect fails once, then the executor waits. */
static void
refused_connect_then_backoff(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;

	(void)state;
	unit_redis_config(&cfg, unit_redis_port(), NULL, NULL, NULL);
	s = redis_new(&cfg);
	redis_batch_init(&b, &arena, 1);
	redis_ping(&b);
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_CONNECT);
	assert_int_equal(redis_status(s, "test"), SHOAL_UNAVAILABLE);
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_BACKOFF);
	usleep((REDIS_RECONNECT_MS + 50) * 1000);
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_CONNECT);
	redis_free(s);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(typed_commands_round_trip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(noscript_script_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(noscript_script_in_the_middle,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(noscript_script_last,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(noscript_two_scripts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    restart_while_idle_then_a_write_succeeds, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    closed_in_flight_idempotent_is_retried_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    closed_in_flight_write_is_not_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(timeout_is_not_retried,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    readonly_is_unavailable_and_drops_the_connection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(noperm_is_internal,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(refused_connect_then_backoff,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("redis", tests, group_setup,
	    group_teardown);
}
