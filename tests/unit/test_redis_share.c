/*
 * test_redis_share.c - redis_share.c: the threads of a process on one Redis
 * connection, their batches sent together, against a real redis-server
 * (unit.h starts it on a free loopback port and stops it by its pid). Each
 * thread has its own struct redis, joined to one struct redis_share, and
 * its own arena.
 *
 * What it shows: every thread gets the replies of its own batch, over many
 * rounds, all of them on one connection; a script Redis forgot is sent
 * again by source for every batch of the write, each reply in its place;
 * an error reply fails only the batch it answers, and the connection stays;
 * a connection closed under a write has its idempotent batches sent again
 * and its others failed; a write Redis does not answer in time fails every
 * batch in it, none sent twice; a stopped Redis costs the batches queued
 * behind the one in flight no second wait; READONLY fails the write that
 * met it and drops the connection.
 *
 * To put several batches in one write, meet() stops the server (SIGSTOP)
 * while a batch of its own, the plug, waits for its answer, starts the
 * threads one after another so that they queue behind it in that order,
 * and resumes the server: the plug is answered, and the oldest batch
 * queued leads a write carrying them all. Writes are counted by the
 * server's total_reads_processed: the shared connection sends nothing
 * until the replies of its last write are in, so each write is one read.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "log.h"
#include "redis.h"
#include "scripts.h"
#include "unit.h"

#define CLIENTS		8	/* threads, each with its own struct redis */
#define ROUNDS		200	/* batches each in the long run */
#define TIMEOUT_MS	1500	/* SHOAL_REDIS_TIMEOUT_MS */
#define TIMEOUT		"1500"
#define START_WAIT_MS	5000	/* a thread reaches redis_run */
#define QUEUE_MS	40	/* from there into the queue, with room */
#define RECOVER_MS	3000	/* the next batch succeeds after an outage */
#define KILL_AFTER_MS	200	/* a write in flight, then the kill */

struct client {
	struct redis		*r;
	struct arena		 arena;
	struct redis_batch	 b;
	pthread_t		 thread;
	int			 running;	/* to join */
	atomic_int		 started;	/* redis_run is next */
	int			 rc;
	enum redis_fault	 fault;
	char			 errstr[REDIS_ERRSTR_MAX];
	int64_t			 ms;		/* redis_run took */
	int			 id;
	char			 wrong[256];	/* the long run's failure */
};

static char		 tmpdir[] = "/tmp/shoal-test-redis-share.XXXXXX";
static struct unit_redis primary, replica;
static struct config	 cfg;
static int		 have_cfg;
static struct redis_share *share;
static struct client	 plug;		/* leads while the others queue */
static struct client	 client[CLIENTS];

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* total_reads_processed on the admin connection c. */
static long long
reads(redisContext *c)
{
	return unit_redis_info_on(c, "stats", "total_reads_processed");
}

/* How many times EVAL (a script by source) has run. */
static long long
eval_calls(int port)
{
	redisContext	*c = unit_redis_admin(port);
	redisReply	*r;
	const char	*p;
	long long	 n = 0;

	assert_non_null(c);
	r = redisCommand(c, "INFO commandstats");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	if ((p = strstr(r->str, "\ncmdstat_eval:calls=")) != NULL)
		n = strtoll(p + strlen("\ncmdstat_eval:calls="), NULL, 10);
	freeReplyObject(r);
	redisFree(c);
	return n;
}

/*
 * The normal clients of the server other than the caller's own: how many,
 * and the id of the first in *id. The shared connection is the only one
 * the test's threads make.
 */
static int
clients(int port, long long *id)
{
	redisContext	*c = unit_redis_admin(port);
	redisReply	*r;
	const char	*p;
	long long	 self, n;
	int		 count = 0;

	assert_non_null(c);
	r = redisCommand(c, "CLIENT ID");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	self = r->integer;
	freeReplyObject(r);
	r = redisCommand(c, "CLIENT LIST TYPE normal");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	*id = -1;
	for (p = r->str; p != NULL; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, "id=", 3) != 0)
			continue;
		n = strtoll(p + 3, NULL, 10);
		if (n != self && count++ == 0)
			*id = n;
	}
	freeReplyObject(r);
	redisFree(c);
	return count;
}

/* The id of the shared connection, which must be the only client. */
static long long
shared_id(int port)
{
	long long	 id;

	assert_int_equal(clients(port, &id), 1);
	return id;
}

/* A command on an admin connection from a thread other than cmocka's,
 * which must not fail a test: 0, or -1. */
static int
quiet_run(int port, const char *cmd)
{
	redisContext	*c = unit_redis_admin(port);
	redisReply	*r = NULL;
	int		 rc = -1;

	if (c != NULL && (r = redisCommand(c, cmd)) != NULL &&
	    r->type != REDIS_REPLY_ERROR)
		rc = 0;
	if (r != NULL)
		freeReplyObject(r);
	if (c != NULL)
		redisFree(c);
	return rc;
}

static void
put(const char *name, const char *value)
{
	unit_redis_run(primary.port, "SET test:u:{%s} %s", name, value);
}

static long long
exists(const char *name)
{
	return unit_redis_run(primary.port, "EXISTS test:u:{%s}", name);
}

/* The client's batch, emptied, with its arena reset. */
static struct redis_batch *
fresh(struct client *c, int idempotent)
{
	arena_reset(&c->arena);
	redis_batch_init(&c->b, &c->arena, idempotent);
	return &c->b;
}

static const struct redis_key *
key(struct redis_batch *b, const char *name)
{
	struct redis_key	*k = arena_alloc(b->arena, sizeof *k);

	key_user(k, "test:", name);
	return k;
}

static size_t
add_set(struct redis_batch *b, const char *name, const char *value)
{
	return redis_set(b, key(b, name), value, strlen(value),
	    REDIS_SET_ALWAYS, 0);
}

static size_t
add_get(struct redis_batch *b, const char *name)
{
	return redis_get(b, key(b, name));
}

/* A script that reads: session_cas with bytes the record never holds
 * writes nothing and answers with the record. */
static size_t
add_load(struct redis_batch *b, const char *name)
{
	return script_session_cas(b, key(b, name), "", 0, "", 0, 60000);
}

/* BLPOP name seconds: Redis holds the connection's later commands until
 * the list gets an item or the seconds pass. */
static size_t
add_blpop(struct redis_batch *b, const char *name, const char *seconds)
{
	const struct redis_key	*k = key(b, name);
	size_t			 i = redis_batch_add(b, -1, 0, 3);

	redis_arg(b, i, 0, "BLPOP", 5);
	redis_arg(b, i, 1, k->s, strlen(k->s));
	redis_arg(b, i, 2, seconds, strlen(seconds));
	return i;
}

static int
is_string(const struct redis_value *v, const char *want)
{
	return v->type == REDIS_VALUE_STRING && v->len == strlen(want) &&
	    memcmp(v->str, want, v->len) == 0;
}

/* A thread's one batch, already built. */
static void *
send_batch(void *arg)
{
	struct client	*c = arg;
	int64_t		 start;

	atomic_store(&c->started, 1);
	start = now_ms();
	c->rc = redis_run(c->r, &c->b);
	c->ms = now_ms() - start;
	c->fault = redis_fault(c->r);
	snprintf(c->errstr, sizeof c->errstr, "%s", redis_errstr(c->r));
	log_thread_done();	/* the leader may have logged a drop */
	return NULL;
}

/* Starts c's thread and waits until it is about to send, and a little
 * more: it is then in the queue, or leading. */
static void
start(struct client *c, void *(*fn)(void *))
{
	int64_t	 until = now_ms() + START_WAIT_MS;

	atomic_store(&c->started, 0);
	assert_int_equal(pthread_create(&c->thread, NULL, fn, c), 0);
	c->running = 1;
	while (!atomic_load(&c->started)) {
		if (now_ms() > until)
			fail_msg("a thread did not start");
		usleep(1000);
	}
	usleep(QUEUE_MS * 1000);
}

static void
join(struct client *c)
{
	if (c->running) {
		pthread_join(c->thread, NULL);
		c->running = 0;
	}
}

static void
plug_ping(void)
{
	redis_ping(fresh(&plug, 1));
}

/*
 * Sends the batches of c[0..n-1], built already, in one write on the
 * shared connection, in that order, behind the plug's batch (plug_ping()).
 * during, if given, runs in a thread of its own from when the server
 * resumes until the batches are answered. *writes, if given: how many
 * writes the shared connection made after the plug's (meaningful when
 * nothing else talks to the server meanwhile).
 */
static void
meet(struct client *const *c, size_t n, int port, void *(*during)(void *),
    long long *writes)
{
	redisContext	*stats = NULL;
	long long	 before = 0;
	pthread_t	 t;
	pid_t		 pid = port == primary.port ? primary.pid : replica.pid;
	size_t		 i;

	if (writes != NULL) {
		assert_non_null(stats = unit_redis_admin(port));
		before = reads(stats);
	}
	assert_int_equal(kill(pid, SIGSTOP), 0);
	start(&plug, send_batch);
	for (i = 0; i < n; i++)
		start(c[i], send_batch);
	assert_int_equal(kill(pid, SIGCONT), 0);
	if (during != NULL)
		assert_int_equal(pthread_create(&t, NULL, during, NULL), 0);
	join(&plug);
	for (i = 0; i < n; i++)
		join(c[i]);
	if (during != NULL)
		pthread_join(t, NULL);
	if (writes != NULL) {
		/* Less the plug's write and this INFO's own read. */
		*writes = reads(stats) - before - 2;
		redisFree(stats);
	}
	assert_int_equal(plug.rc, 0);
}

/*
 * The share and its clients against the server on port. A PING through
 * it connects and loads the scripts first, so that a test sees only its
 * own batches.
 */
static void
share_open(int port, const char *timeout_ms)
{
	size_t	 i;

	unit_redis_config(&cfg, port, NULL, NULL, timeout_ms);
	have_cfg = 1;
	share = redis_share_new(&cfg);
	plug.r = redis_new(&cfg);
	redis_share_with(plug.r, share);
	for (i = 0; i < CLIENTS; i++) {
		client[i].id = (int)i;
		client[i].r = redis_new(&cfg);
		redis_share_with(client[i].r, share);
	}
	plug_ping();
	assert_int_equal(redis_run(plug.r, &plug.b), 0);
}

/* Runs c's batch from this thread until it succeeds, for up to ms. */
static void
until_it_succeeds(struct client *c, int64_t ms)
{
	int64_t	 start = now_ms();

	while (redis_run(c->r, &c->b) != 0) {
		if (now_ms() - start > ms)
			fail_msg("still failing after %lld ms: %s",
			    (long long)ms, redis_errstr(c->r));
		usleep(50000);
	}
}

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
	size_t	 i;

	(void)state;
	memset(&plug, 0, sizeof plug);
	memset(client, 0, sizeof client);
	arena_init(&plug.arena);
	for (i = 0; i < CLIENTS; i++)
		arena_init(&client[i].arena);
	unit_redis_run(primary.port, "FLUSHALL");
	unit_redis_run(primary.port, "SCRIPT FLUSH");
	return 0;
}

/* Also after a failed test: the server resumed, every thread joined. */
static int
teardown(void **state)
{
	size_t	 i;

	(void)state;
	kill(primary.pid, SIGCONT);
	if (replica.pid > 0)
		kill(replica.pid, SIGCONT);
	join(&plug);
	redis_free(plug.r);
	arena_free(&plug.arena);
	for (i = 0; i < CLIENTS; i++) {
		join(&client[i]);
		redis_free(client[i].r);
		arena_free(&client[i].arena);
	}
	redis_share_free(share);
	share = NULL;
	if (have_cfg)
		config_free(&cfg);
	have_cfg = 0;
	unit_redis_stop(&replica);
	return 0;
}

/* Client i's batch: SET, GET and a script read of its own key, whose
 * value names the client and the round. */
static void
own_batch(struct client *c, const char *value)
{
	struct redis_batch	*b = fresh(c, 0);
	char			 name[16];

	snprintf(name, sizeof name, "t%d", c->id);
	add_set(b, name, arena_strdup(b->arena, value));
	add_get(b, name);
	add_load(b, name);
}

static int
own_replies(const struct client *c, const char *value)
{
	return is_string(&c->b.reply[0], "OK") &&
	    is_string(&c->b.reply[1], value) &&
	    is_string(&c->b.reply[2], value);
}

/* The long run's thread: ROUNDS batches, each checked. */
static void *
send_rounds(void *arg)
{
	struct client	*c = arg;
	char		 value[64];
	int		 i;

	atomic_store(&c->started, 1);
	for (i = 0; i < ROUNDS; i++) {
		snprintf(value, sizeof value, "client%d-round%d", c->id, i);
		own_batch(c, value);
		if (redis_run(c->r, &c->b) != 0) {
			snprintf(c->wrong, sizeof c->wrong, "round %d failed: "
			    "%s", i, redis_errstr(c->r));
			break;
		}
		if (!own_replies(c, value)) {
			snprintf(c->wrong, sizeof c->wrong, "round %d: %s "
			    "got %.40s, %.40s, %.40s", i, value,
			    c->b.reply[0].str ? c->b.reply[0].str : "(none)",
			    c->b.reply[1].str ? c->b.reply[1].str : "(none)",
			    c->b.reply[2].str ? c->b.reply[2].str : "(none)");
			break;
		}
	}
	log_thread_done();
	return NULL;
}

static void
every_thread_gets_its_own_replies_on_one_connection(void **state)
{
	struct client	*c[CLIENTS];
	redisContext	*stats;
	char		 value[64];
	long long	 before, writes, reads_before;
	size_t		 i;

	(void)state;
	share_open(primary.port, TIMEOUT);
	before = unit_redis_connections(primary.port);

	/* All of them in one write. */
	for (i = 0; i < CLIENTS; i++) {
		c[i] = &client[i];
		snprintf(value, sizeof value, "client%zu-met", i);
		own_batch(c[i], value);
	}
	plug_ping();
	meet(c, CLIENTS, primary.port, NULL, &writes);
	for (i = 0; i < CLIENTS; i++) {
		snprintf(value, sizeof value, "client%zu-met", i);
		assert_int_equal(client[i].rc, 0);
		assert_true(own_replies(&client[i], value));
	}
	assert_int_equal(writes, 1);

	/* Then each on its own, as fast as it can. */
	assert_non_null(stats = unit_redis_admin(primary.port));
	reads_before = reads(stats);
	for (i = 0; i < CLIENTS; i++) {
		client[i].running = 1;
		assert_int_equal(pthread_create(&client[i].thread, NULL,
		    send_rounds, &client[i]), 0);
	}
	for (i = 0; i < CLIENTS; i++)
		join(&client[i]);
	writes = reads(stats) - reads_before - 1;
	redisFree(stats);
	for (i = 0; i < CLIENTS; i++)
		if (client[i].wrong[0] != '\0')
			fail_msg("client %zu: %s", i, client[i].wrong);
	/* While one thread waits on Redis the others queue: fewer writes
	 * than batches (each write at least one batch). */
	print_message("%d batches in %lld writes\n", CLIENTS * ROUNDS, writes);
	assert_true(writes >= 1 && writes < CLIENTS * ROUNDS);

	/* One connection for all: the meeting's and the counts' own, no
	 * other, and it is still the only client. */
	assert_int_equal(unit_redis_new_connections(primary.port, before), 2);
	shared_id(primary.port);
}

/*
 * SCRIPT FLUSH, then one write of batches with the script first, in the
 * middle, last, twice, or not at all: every script Redis answers NOSCRIPT
 * is sent again by source, once, in one more write for all of them, and
 * every reply lands in its own batch, in its own place.
 */
static void
noscript_in_a_shared_write_each_reply_in_its_place(void **state)
{
	struct client	*c[CLIENTS];
	char		 name[16], value[16];
	long long	 before, writes, id;
	size_t		 i, k, scripts = 0;
	int		 script;

	(void)state;
	for (i = 0; i < CLIENTS; i++)
		for (k = 0; k < 3; k++) {
			snprintf(name, sizeof name, "s%zu-%zu", i, k);
			snprintf(value, sizeof value, "v%zu-%zu", i, k);
			put(name, value);
		}
	share_open(primary.port, TIMEOUT);
	id = shared_id(primary.port);
	unit_redis_run(primary.port, "SCRIPT FLUSH");
	unit_redis_run(primary.port, "CONFIG RESETSTAT");
	before = unit_redis_connections(primary.port);

	/* Clients 0-5: the script at 0, 1, 2, 0, 1, 2; client 6 two
	 * scripts, first and last; client 7 none. */
	for (i = 0; i < CLIENTS; i++) {
		struct redis_batch	*b = fresh(&client[i], i % 2);

		c[i] = &client[i];
		for (k = 0; k < 3; k++) {
			snprintf(name, sizeof name, "s%zu-%zu", i, k);
			script = i < 6 ? k == i % 3 : i == 6 ? k != 1 : 0;
			scripts += script;
			if (script)
				add_load(b, name);
			else
				add_get(b, name);
		}
	}
	plug_ping();
	meet(c, CLIENTS, primary.port, NULL, &writes);
	for (i = 0; i < CLIENTS; i++) {
		assert_int_equal(client[i].rc, 0);
		assert_int_equal(client[i].b.n, 3);
		for (k = 0; k < 3; k++) {
			snprintf(value, sizeof value, "v%zu-%zu", i, k);
			if (!is_string(&client[i].b.reply[k], value))
				fail_msg("client %zu reply %zu: %s, not %s", i,
				    k, client[i].b.reply[k].str ?
				    client[i].b.reply[k].str : "(none)",
				    value);
		}
	}
	/* NOSCRIPT is not a reason to reconnect: the meeting's count is
	 * the only new connection. */
	assert_int_equal(unit_redis_new_connections(primary.port, before), 1);
	assert_int_equal(shared_id(primary.port), id);
	/* The batches, then the scripts again: two writes. */
	assert_int_equal(writes, 2);
	assert_int_equal(eval_calls(primary.port), scripts);

	/* EVAL cached the script again: the next EVALSHA works. */
	add_load(fresh(&client[0], 1), "s0-0");
	assert_int_equal(redis_run(client[0].r, &client[0].b), 0);
	assert_true(is_string(&client[0].b.reply[0], "v0-0"));
	assert_int_equal(eval_calls(primary.port), scripts);
}

/*
 * One batch of a write meets WRONGTYPE: it alone fails, as an internal
 * error (a bug, not an outage); the batches before and after it in the
 * same write succeed, its own other commands ran and were read in step,
 * and the next batches go on the same connection.
 */
static void
an_error_reply_fails_its_batch_alone_on_the_same_connection(void **state)
{
	struct client		*c[4];
	struct redis_batch	*b;
	long long		 before, writes, id;
	size_t			 i;

	(void)state;
	unit_redis_run(primary.port, "RPUSH test:u:{list} item");
	put("r", "read");
	share_open(primary.port, TIMEOUT);
	id = shared_id(primary.port);
	before = unit_redis_connections(primary.port);
	for (i = 0; i < 4; i++)
		c[i] = &client[i];

	b = fresh(c[0], 0);
	add_set(b, "a", "A");
	add_get(b, "a");
	b = fresh(c[1], 0);
	add_set(b, "b", "B");
	add_get(b, "list");		/* WRONGTYPE */
	add_get(b, "b");
	b = fresh(c[2], 0);
	add_set(b, "c", "C");
	add_get(b, "c");
	b = fresh(c[3], 1);
	add_load(b, "r");
	plug_ping();
	meet(c, 4, primary.port, NULL, &writes);
	assert_int_equal(writes, 1);

	assert_int_equal(c[1]->rc, -1);
	assert_int_equal(c[1]->fault, REDIS_FAULT_ERROR);
	assert_non_null(strstr(c[1]->errstr, "WRONGTYPE"));
	assert_int_equal(redis_status(c[1]->r, "test"), SHOAL_INTERNAL);
	assert_true(is_string(&c[1]->b.reply[0], "OK"));
	assert_int_equal(c[1]->b.reply[1].type, REDIS_VALUE_ERROR);
	assert_true(is_string(&c[1]->b.reply[2], "B"));

	assert_int_equal(c[0]->rc, 0);
	assert_true(is_string(&c[0]->b.reply[1], "A"));
	assert_int_equal(c[2]->rc, 0);
	assert_true(is_string(&c[2]->b.reply[1], "C"));
	assert_int_equal(c[3]->rc, 0);
	assert_true(is_string(&c[3]->b.reply[0], "read"));

	/* The next batch, from the thread that failed, on the same
	 * connection. */
	add_get(fresh(c[1], 1), "a");
	assert_int_equal(redis_run(c[1]->r, &c[1]->b), 0);
	assert_int_equal(redis_fault(c[1]->r), REDIS_FAULT_NONE);
	assert_true(is_string(&c[1]->b.reply[0], "A"));
	/* The meeting's count, no other. */
	assert_int_equal(unit_redis_new_connections(primary.port, before), 1);
	assert_int_equal(shared_id(primary.port), id);
}

/* Kills every normal connection once a write is in flight (BLPOP holds
 * it), then, a moment later, gives BLPOP its item. */
static atomic_int	 killer_failed;

static void *
kill_then_push(void *arg)
{
	(void)arg;
	usleep(KILL_AFTER_MS * 1000);
	if (quiet_run(primary.port, "CLIENT KILL TYPE normal SKIPME yes") !=
	    0)
		atomic_store(&killer_failed, 1);
	usleep(KILL_AFTER_MS * 1000);
	if (quiet_run(primary.port, "RPUSH test:u:{list} item") != 0)
		atomic_store(&killer_failed, 1);
	return NULL;
}

/*
 * The connection is closed under a write of three batches: BLPOP (may run
 * twice), a SET (must not), a GET (may). The first and the last are sent
 * again on a new connection and succeed; the SET fails as closed, and it
 * never ran.
 */
static void
closed_in_flight_idempotent_batches_are_retried_others_fail(void **state)
{
	struct client	*c[3] = { &client[0], &client[1], &client[2] };
	long long	 before;

	(void)state;
	put("r", "read");
	share_open(primary.port, "3000");
	before = unit_redis_connections(primary.port);
	add_blpop(fresh(c[0], 1), "list", "2");
	add_set(fresh(c[1], 0), "w", "written");
	add_get(fresh(c[2], 1), "r");
	atomic_store(&killer_failed, 0);
	plug_ping();
	meet(c, 3, primary.port, kill_then_push, NULL);
	assert_int_equal(atomic_load(&killer_failed), 0);

	assert_int_equal(c[0]->rc, 0);
	assert_int_equal(c[0]->b.reply[0].type, REDIS_VALUE_ARRAY);
	assert_int_equal(c[0]->b.reply[0].n, 2);
	assert_true(is_string(&c[0]->b.reply[0].elem[1], "item"));
	assert_int_equal(c[2]->rc, 0);
	assert_true(is_string(&c[2]->b.reply[0], "read"));

	assert_int_equal(c[1]->rc, -1);
	assert_int_equal(c[1]->fault, REDIS_FAULT_CLOSED);
	assert_int_equal(redis_status(c[1]->r, "test"), SHOAL_UNAVAILABLE);
	/* The retry's, besides the killer's two. */
	assert_int_equal(unit_redis_new_connections(primary.port, before),
	    1 + 2);
	assert_int_equal(exists("w"), 0);
}

/* The same with no batch that may be sent twice: both fail as closed,
 * and nothing connects again. */
static void
closed_in_flight_with_no_idempotent_batch_fails_them_all(void **state)
{
	struct client	*c[2] = { &client[0], &client[1] };
	long long	 before;

	(void)state;
	share_open(primary.port, "3000");
	before = unit_redis_connections(primary.port);
	add_blpop(fresh(c[0], 0), "list", "2");
	add_set(fresh(c[1], 0), "w", "written");
	atomic_store(&killer_failed, 0);
	plug_ping();
	meet(c, 2, primary.port, kill_then_push, NULL);
	assert_int_equal(atomic_load(&killer_failed), 0);

	assert_int_equal(c[0]->rc, -1);
	assert_int_equal(c[0]->fault, REDIS_FAULT_CLOSED);
	assert_int_equal(c[1]->rc, -1);
	assert_int_equal(c[1]->fault, REDIS_FAULT_CLOSED);
	/* The killer's two. */
	assert_int_equal(unit_redis_new_connections(primary.port, before), 2);
	assert_int_equal(exists("w"), 0);
}

/*
 * The plug pauses Redis (CLIENT PAUSE, longer than the timeout) as it is
 * answered, so the write queued behind it gets no answer in time: every
 * batch of that write fails as timed out after one wait, none is sent
 * again, and once Redis answers again the next batch succeeds, on a new
 * connection.
 */
static void
a_timeout_fails_every_batch_of_its_write_none_retried(void **state)
{
	struct client	*c[3] = { &client[0], &client[1], &client[2] };
	struct redis_batch *b;
	size_t		 i;
	long long	 before, id;
	char		 ms[16];

	(void)state;
	put("r", "read");
	share_open(primary.port, TIMEOUT);
	id = shared_id(primary.port);
	before = unit_redis_connections(primary.port);
	add_get(fresh(c[0], 1), "r");
	add_set(fresh(c[1], 0), "w", "written");
	add_load(fresh(c[2], 1), "r");

	b = fresh(&plug, 1);
	i = redis_batch_add(b, -1, 0, 4);
	snprintf(ms, sizeof ms, "%d", TIMEOUT_MS + 700);
	redis_arg(b, i, 0, "CLIENT", 6);
	redis_arg(b, i, 1, "PAUSE", 5);
	redis_arg(b, i, 2, ms, strlen(ms));
	redis_arg(b, i, 3, "ALL", 3);
	meet(c, 3, primary.port, NULL, NULL);

	for (i = 0; i < 3; i++) {
		assert_int_equal(c[i]->rc, -1);
		assert_int_equal(c[i]->fault, REDIS_FAULT_TIMEOUT);
		/* One wait, not two. */
		assert_true(c[i]->ms >= TIMEOUT_MS - 100);
		assert_true(c[i]->ms < 2 * TIMEOUT_MS);
	}
	assert_int_equal(redis_status(c[1]->r, "test"), SHOAL_UNAVAILABLE);
	/* Nothing connected again: the count's own (held by the pause). */
	assert_int_equal(unit_redis_new_connections(primary.port, before), 0);
	assert_int_equal(exists("w"), 0);

	add_get(fresh(c[1], 1), "r");
	until_it_succeeds(c[1], RECOVER_MS);
	assert_true(is_string(&c[1]->b.reply[0], "read"));
	assert_true(shared_id(primary.port) != id);
}

/*
 * Redis stopped outright, longer than the timeout: the batch in flight
 * times out; those queued behind it fail at once (the connection is gone
 * and the next connect waits its backoff) instead of each waiting out a
 * timeout of its own; once Redis runs again the next batch succeeds.
 */
static void
a_stopped_redis_costs_the_queue_no_second_wait(void **state)
{
	size_t		 i;
	int		 timeouts = 0;

	(void)state;
	put("r", "read");
	share_open(primary.port, TIMEOUT);
	add_get(fresh(&plug, 1), "r");
	for (i = 0; i < CLIENTS; i++)
		add_get(fresh(&client[i], 1), "r");

	assert_int_equal(kill(primary.pid, SIGSTOP), 0);
	start(&plug, send_batch);
	for (i = 0; i < CLIENTS; i++)
		start(&client[i], send_batch);
	join(&plug);
	for (i = 0; i < CLIENTS; i++)
		join(&client[i]);
	assert_int_equal(kill(primary.pid, SIGCONT), 0);

	assert_int_equal(plug.rc, -1);
	assert_int_equal(plug.fault, REDIS_FAULT_TIMEOUT);
	assert_true(plug.ms < 2 * TIMEOUT_MS);
	for (i = 0; i < CLIENTS; i++) {
		assert_int_equal(client[i].rc, -1);
		if (client[i].fault == REDIS_FAULT_TIMEOUT)
			timeouts++;
		else
			assert_int_equal(client[i].fault, REDIS_FAULT_BACKOFF);
		assert_int_equal(redis_status(client[i].r, "test"),
		    SHOAL_UNAVAILABLE);
	}
	/* Queued while the plug waited, they all went after its timeout:
	 * none waited a full timeout more. */
	assert_int_equal(timeouts, 0);

	until_it_succeeds(&client[0], RECOVER_MS);
	assert_true(is_string(&client[0].b.reply[0], "read"));
	shared_id(primary.port);
}

/*
 * The server is a replica (of a primary that is not there): a write's SET
 * meets READONLY. That batch fails as "try again later" (the node cannot
 * serve anyone now), the reads of the same write succeed, and the
 * connection is dropped, to find the primary again: the next batch goes on
 * a new one.
 */
static void
readonly_fails_its_batch_and_drops_the_connection(void **state)
{
	struct client	*c[3] = { &client[0], &client[1], &client[2] };
	char		 extra[64];
	long long	 id, gone;
	int64_t		 until;

	(void)state;
	snprintf(extra, sizeof extra, "--replicaof 127.0.0.1 %d",
	    unit_redis_port());
	unit_redis_start(&replica, tmpdir, 0, extra);
	share_open(replica.port, TIMEOUT);
	id = shared_id(replica.port);
	add_get(fresh(c[0], 1), "r");
	add_set(fresh(c[1], 0), "w", "written");
	add_get(fresh(c[2], 1), "r");
	plug_ping();
	/* Not counted: the dropped connection's close is a read too. That
	 * the reads after the SET were in its write shows in their success:
	 * a later write would have met the reconnect's backoff. */
	meet(c, 3, replica.port, NULL, NULL);

	assert_int_equal(c[1]->rc, -1);
	assert_int_equal(c[1]->fault, REDIS_FAULT_ERROR);
	assert_non_null(strstr(c[1]->errstr, "READONLY"));
	assert_int_equal(redis_status(c[1]->r, "test"), SHOAL_UNAVAILABLE);
	assert_int_equal(c[0]->rc, 0);
	assert_int_equal(c[0]->b.reply[0].type, REDIS_VALUE_NIL);
	assert_int_equal(c[2]->rc, 0);
	assert_int_equal(c[2]->b.reply[0].type, REDIS_VALUE_NIL);

	/* Dropped: the replica soon has no client of ours. */
	for (until = now_ms() + 1000; clients(replica.port, &gone) != 0 &&
	    now_ms() < until; )
		usleep(20000);
	assert_int_equal(clients(replica.port, &gone), 0);

	add_get(fresh(c[1], 1), "r");
	until_it_succeeds(c[1], RECOVER_MS);
	assert_true(shared_id(replica.port) != id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    every_thread_gets_its_own_replies_on_one_connection,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    noscript_in_a_shared_write_each_reply_in_its_place,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    an_error_reply_fails_its_batch_alone_on_the_same_connection,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    closed_in_flight_idempotent_batches_are_retried_others_fail,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    closed_in_flight_with_no_idempotent_batch_fails_them_all,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_timeout_fails_every_batch_of_its_write_none_retried,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_stopped_redis_costs_the_queue_no_second_wait,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    readonly_fails_its_batch_and_drops_the_connection,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("redis_share", tests, group_setup,
	    group_teardown);
}
