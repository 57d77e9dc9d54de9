/*
 * test_cluster.c - redis.h across a Redis Cluster (SHOAL_REDIS_CLUSTER),
 * against a real one: three cluster-enabled redis-server primaries, which
 * the test starts on free loopback ports below the kernel's ephemeral range
 * (each with its own bus port), joins with redis-cli --cluster create and
 * stops by their pids.
 *
 * What it shows: from a single seed node the slot map is learnt and every
 * command goes to the node serving its key, a batch over several nodes
 * getting each reply in its place; a slot moved by hand is followed (MOVED)
 * and the map corrected; a slot being migrated is followed key by key
 * (ASK, after ASKING), a new key landing on the importing node; a script
 * whose two keys the migration has split fails fast with a 503 (TRYAGAIN)
 * and works once the migration ends; a map, or a redirect, naming a node
 * SHOAL_REDIS_ALLOWED does not list is refused and nothing is written; a
 * dead primary makes both its own slots and, once the cluster says so
 * (CLUSTERDOWN), everyone's a 503, without waiting longer than the
 * configured timeout.
 *
 * The nodes are checked through admin connections of their own: INFO
 * commandstats and errorstats say which node ran or redirected what,
 * CLUSTER GETKEYSINSLOT which node holds a key.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include "slot.h"
#include "unit.h"

#define NODES			3
#define NODE_TIMEOUT		"500"	/* cluster-node-timeout (ms) */
#define CLIENT_TIMEOUT_MS	500	/* SHOAL_REDIS_TIMEOUT_MS */
#define CLIENT_TIMEOUT		"500"
#define MARGIN_MS		500	/* allowed over the timeout */
#define START_WAIT_MS		5000	/* a node answers PING */
#define STOP_WAIT_MS		5000	/* after SIGTERM, before SIGKILL */
#define CREATE_WAIT_MS		30000	/* redis-cli --cluster create */
#define READY_WAIT_MS		10000	/* every node: cluster_state:ok */
#define GOSSIP_WAIT_MS		5000	/* a node learns what another says */
#define FAIL_WAIT_MS		10000	/* the cluster notices a dead node */

struct node {
	pid_t	 pid;
	int	 port;
	int	 bus_port;
	char	 id[41];
};

static char		 tmpdir[] = "/tmp/shoal-test-cluster.XXXXXX";
static int		 have_tmpdir;
static struct node	 node[NODES];
static struct arena	 arena;

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a node already has port, as its own or its bus port. */
static int
port_taken(int port)
{
	int	 i;

	for (i = 0; i < NODES; i++)
		if (node[i].port == port || node[i].bus_port == port)
			return 1;
	return 0;
}

/* A port below the ephemeral range that nothing listens on now and no
 * node was given; -1 when none is found. */
static int
pick_port(void)
{
	return unit_free_port(port_taken);
}

/* Runs argv (no shell) with its output appended to the file log. */
static pid_t
spawn(char *const argv[], const char *log)
{
	pid_t	 pid;
	int	 fd;

	if ((pid = fork()) != 0)
		return pid;
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	execvp(argv[0], argv);
	_exit(127);
}

/* Waits up to ms for pid to end; 1 when it has (its status in *status). */
static int
reaped(pid_t pid, int ms, int *status)
{
	int64_t	 until = now_ms() + ms;
	pid_t	 r;

	*status = 0;
	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return 1;
		if (now_ms() >= until)
			return 0;
		usleep(10000);
	}
}

/* SIGTERM, a bounded wait, then SIGKILL. */
static void
stop_process(pid_t *pid)
{
	int	 status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	if (!reaped(*pid, STOP_WAIT_MS, &status)) {
		kill(*pid, SIGKILL);
		waitpid(*pid, &status, 0);
	}
	*pid = 0;
}

/* A command on a fresh admin connection: its reply, an error reply
 * included, or NULL when there was none. */
static redisReply *
vtry_query(int port, const char *fmt, va_list ap)
{
	redisContext	*c = unit_redis_admin(port);
	redisReply	*r;

	if (c == NULL)
		return NULL;
	r = redisvCommand(c, fmt, ap);
	redisFree(c);
	return r;
}

static redisReply *
try_query(int port, const char *fmt, ...)
{
	redisReply	*r;
	va_list		 ap;

	va_start(ap, fmt);
	r = vtry_query(port, fmt, ap);
	va_end(ap);
	return r;
}

/* The same, failing the test on no reply or an error reply. */
static redisReply *
vquery(int port, const char *fmt, va_list ap)
{
	redisReply	*r = vtry_query(port, fmt, ap);
	char		 why[256];

	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof why, "%s on port %d: %s", fmt, port,
		    r != NULL ? r->str : "no reply");
		if (r != NULL)
			freeReplyObject(r);
		fail_msg("%s", why);
		abort();	/* not reached: fail_msg ends the test */
	}
	return r;
}

static redisReply *
query(int port, const char *fmt, ...)
{
	redisReply	*r;
	va_list		 ap;

	va_start(ap, fmt);
	r = vquery(port, fmt, ap);
	va_end(ap);
	return r;
}

/* A command for its effect; its integer reply, else 0. */
static long long
run(int port, const char *fmt, ...)
{
	redisReply	*r;
	va_list		 ap;
	long long	 n = 0;

	va_start(ap, fmt);
	r = vquery(port, fmt, ap);
	va_end(ap);
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

/* The cluster itself: started, joined, ready, stopped. */

static int
start_node(struct node *n)
{
	char	 dir[128], log[160], port[8], bus[8];
	char	*argv[] = { "redis-server", "--port", port, "--cluster-port",
	    bus, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
	    "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
	    NODE_TIMEOUT, "--save", "", "--appendonly", "no", "--dir", dir,
	    NULL };
	redisContext	*c;
	int64_t		 until;
	int		 status;

	if ((n->port = pick_port()) < 0 || (n->bus_port = pick_port()) < 0)
		return -1;
	snprintf(port, sizeof port, "%d", n->port);
	snprintf(bus, sizeof bus, "%d", n->bus_port);
	snprintf(dir, sizeof dir, "%s/%d", tmpdir, n->port);
	snprintf(log, sizeof log, "%s/log", dir);
	if (mkdir(dir, 0700) != 0 || (n->pid = spawn(argv, log)) < 0)
		return -1;
	for (until = now_ms() + START_WAIT_MS; now_ms() < until;
	    usleep(20000)) {
		if ((c = unit_redis_admin(n->port)) != NULL) {
			redisFree(c);
			return 0;
		}
		if (reaped(n->pid, 0, &status)) {
			n->pid = 0;
			break;
		}
	}
	fprintf(stderr, "redis-server on port %d did not start (see %s)\n",
	    n->port, log);
	return -1;
}

static int
create_cluster(void)
{
	char	 addr[NODES][32], log[160];
	char	*argv[] = { "redis-cli", "--cluster", "create", addr[0],
	    addr[1], addr[2], "--cluster-replicas", "0", "--cluster-yes",
	    NULL };
	pid_t	 pid;
	int	 i, status;

	for (i = 0; i < NODES; i++)
		snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d",
		    node[i].port);
	snprintf(log, sizeof log, "%s/create.log", tmpdir);
	if ((pid = spawn(argv, log)) < 0)
		return -1;
	if (!reaped(pid, CREATE_WAIT_MS, &status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Whether node n's CLUSTER INFO has the line (no test failure). */
static int
cluster_info_says(int n, const char *line)
{
	redisReply	*r = try_query(node[n].port, "CLUSTER INFO");
	char		 want[80];
	int		 yes;

	snprintf(want, sizeof want, "%s\r\n", line);
	yes = r != NULL && r->type == REDIS_REPLY_STRING &&
	    strstr(r->str, want) != NULL;
	if (r != NULL)
		freeReplyObject(r);
	return yes;
}

/* Every node sees the whole cluster, every slot served. */
static int
cluster_ready(void)
{
	int64_t	 until = now_ms() + READY_WAIT_MS;
	int	 i, ok;

	do {
		for (ok = 1, i = 0; i < NODES && ok; i++)
			ok = cluster_info_says(i, "cluster_state:ok") &&
			    cluster_info_says(i, "cluster_known_nodes:3");
		if (ok)
			return 0;
		usleep(50000);
	} while (now_ms() < until);
	return -1;
}

static int
learn_node_ids(void)
{
	redisReply	*r;
	int		 i;

	for (i = 0; i < NODES; i++) {
		r = try_query(node[i].port, "CLUSTER MYID");
		if (r == NULL || r->type != REDIS_REPLY_STRING ||
		    r->len != 40) {
			if (r != NULL)
				freeReplyObject(r);
			return -1;
		}
		memcpy(node[i].id, r->str, 41);
		freeReplyObject(r);
	}
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
group_teardown(void **state)
{
	int	 i, rc = 0;

	(void)state;
	for (i = 0; i < NODES; i++)
		stop_process(&node[i].pid);
	if (have_tmpdir) {
		rc = nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		have_tmpdir = 0;
	}
	return rc == 0 ? 0 : -1;
}

static int
group_setup(void **state)
{
	int	 i;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || mkdtemp(tmpdir) == NULL)
		return -1;
	have_tmpdir = 1;
	for (i = 0; i < NODES; i++)
		if (start_node(&node[i]) != 0)
			goto fail;
	if (create_cluster() != 0) {
		fprintf(stderr, "redis-cli --cluster create failed\n");
		goto fail;
	}
	if (cluster_ready() != 0 || learn_node_ids() != 0) {
		fprintf(stderr, "the cluster did not become ready\n");
		goto fail;
	}
	return 0;
fail:
	group_teardown(NULL);
	return -1;
}

static int
setup(void **state)
{
	int	 i;

	(void)state;
	arena_init(&arena);
	for (i = 0; i < NODES; i++)
		if (node[i].pid > 0)
			run(node[i].port, "FLUSHALL");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	arena_free(&arena);
	return 0;
}

/* What the nodes say, through admin connections. */

static int
node_at(long long port)
{
	int	 i;

	for (i = 0; i < NODES; i++)
		if (node[i].port == port)
			return i;
	return -1;
}

/* The node CLUSTER SLOTS (asked of node 0) says serves slot. */
static int
owner_of(unsigned slot)
{
	redisReply	*r = query(node[0].port, "CLUSTER SLOTS");
	redisReply	*e;
	size_t		 i;
	int		 owner = -1;

	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		if (e->element[0]->integer <= slot &&
		    slot <= e->element[1]->integer)
			owner = node_at(e->element[2]->element[1]->integer);
	}
	freeReplyObject(r);
	assert_true(owner >= 0);
	return owner;
}

static unsigned
key_slot(const struct redis_key *k)
{
	return slot_of_key(k->s, strlen(k->s));
}

/* Whether node n holds k. CLUSTER GETKEYSINSLOT answers whoever serves
 * the slot, so it sees both sides of a migration. */
static int
holds(int n, const struct redis_key *k)
{
	redisReply	*r = query(node[n].port, "CLUSTER GETKEYSINSLOT %u 1000",
			    key_slot(k));
	size_t		 i;
	int		 found = 0;

	for (i = 0; i < r->elements; i++)
		if (strcmp(r->element[i]->str, k->s) == 0)
			found = 1;
	freeReplyObject(r);
	return found;
}

/* The number after "key=" on the line "name:..." of an INFO section; 0
 * when the line is not there (nothing counted yet). */
static long long
info_count(int n, const char *section, const char *name, const char *key)
{
	redisReply	*r = query(node[n].port, "INFO %s", section);
	char		 head[80], line[512], *tok, *save;
	const char	*p;
	size_t		 klen = strlen(key);
	long long	 count = 0;

	snprintf(head, sizeof head, "\n%s:", name);
	if ((p = strstr(r->str, head)) != NULL) {
		p += strlen(head);
		snprintf(line, sizeof line, "%.*s", (int)strcspn(p, "\r\n"), p);
		for (tok = strtok_r(line, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save))
			if (strncmp(tok, key, klen) == 0 && tok[klen] == '=')
				count = strtoll(tok + klen + 1, NULL, 10);
	}
	freeReplyObject(r);
	return count;
}

/* How many times node n ran a command ("get", "asking"). */
static long long
calls(int n, const char *command)
{
	char	 name[64];

	snprintf(name, sizeof name, "cmdstat_%s", command);
	return info_count(n, "commandstats", name, "calls");
}

/* How many times node n answered an error ("MOVED", "ASK"). */
static long long
errors(int n, const char *code)
{
	char	 name[64];

	snprintf(name, sizeof name, "errorstat_%s", code);
	return info_count(n, "errorstats", name, "count");
}

/* Moving a slot by hand, as redis-cli --cluster reshard does. */

static void
begin_migration(unsigned slot, int from, int to)
{
	run(node[to].port, "CLUSTER SETSLOT %u IMPORTING %s", slot,
	    node[from].id);
	run(node[from].port, "CLUSTER SETSLOT %u MIGRATING %s", slot,
	    node[to].id);
}

static void
migrate_key(int from, int to, const char *key)
{
	redisReply	*r = query(node[from].port, "MIGRATE 127.0.0.1 %d %s 0 "
			    "5000 KEYS %s", node[to].port, "", key);

	assert_int_equal(r->type, REDIS_REPLY_STATUS);
	assert_string_equal(r->str, "OK");
	freeReplyObject(r);
}

/* Every node is told the slot is to's, to itself first. */
static void
end_migration(unsigned slot, int to)
{
	int	 i;

	run(node[to].port, "CLUSTER SETSLOT %u NODE %s", slot, node[to].id);
	for (i = 0; i < NODES; i++)
		if (i != to)
			run(node[i].port, "CLUSTER SETSLOT %u NODE %s", slot,
			    node[to].id);
}

/* The whole slot, every key in it. */
static void
move_slot(unsigned slot, int from, int to)
{
	redisReply	*r;
	size_t		 i;

	begin_migration(slot, from, to);
	r = query(node[from].port, "CLUSTER GETKEYSINSLOT %u 1000", slot);
	for (i = 0; i < r->elements; i++)
		migrate_key(from, to, r->element[i]->str);
	freeReplyObject(r);
	end_migration(slot, to);
	assert_int_equal(owner_of(slot), to);
}

/* The client: one struct redis, as a worker thread has. */

static void
load_config(struct config *cfg, int seed, const char *allowed)
{
	char	 addr[64], err[256];

	assert_int_equal(unit_clear_env(), 0);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", node[seed].port);
	setenv("SHOAL_REDIS_CLUSTER", addr, 1);
	setenv("SHOAL_REDIS_TIMEOUT_MS", CLIENT_TIMEOUT, 1);
	if (allowed != NULL)
		setenv("SHOAL_REDIS_ALLOWED", allowed, 1);
	if (config_load(cfg, err, sizeof err) != 0)
		fail_msg("config_load: %s", err);
}

/* A client that knows the cluster by the one seed node. */
static struct redis *
client(struct config *cfg, int seed, const char *allowed)
{
	load_config(cfg, seed, allowed);
	return redis_new(cfg);
}

static void
tagged(struct redis_key *k, const char *tag, const char *name)
{
	snprintf(k->s, sizeof k->s, "test:{%s}:%s", tag, name);
}

static void
assert_string(const struct redis_value *v, const char *want)
{
	assert_int_equal(v->type, REDIS_VALUE_STRING);
	assert_int_equal(v->len, strlen(want));
	assert_memory_equal(v->str, want, v->len);
}

static void
put(struct redis *s, const struct redis_key *k, const char *value)
{
	struct redis_batch	 b;
	size_t			 i;

	redis_batch_init(&b, &arena, 0);
	i = redis_set(&b, k, value, strlen(value), REDIS_SET_ALWAYS, 0);
	if (redis_run(s, &b) != 0)
		fail_msg("SET %s: %s", k->s, redis_errstr(s));
	assert_string(&b.reply[i], "OK");
}

static const struct redis_value *
fetch(struct redis *s, const struct redis_key *k)
{
	struct redis_batch	 b;
	size_t			 i;

	redis_batch_init(&b, &arena, 1);
	i = redis_get(&b, k);
	if (redis_run(s, &b) != 0)
		fail_msg("GET %s: %s", k->s, redis_errstr(s));
	return &b.reply[i];
}

/* A GET, timed: what redis_run says, and how long it took in *ms. */
static int
timed_fetch(struct redis *s, const struct redis_key *k, int64_t *ms)
{
	struct redis_batch	 b;
	int64_t			 start = now_ms();
	int			 rc;

	redis_batch_init(&b, &arena, 1);
	redis_get(&b, k);
	rc = redis_run(s, &b);
	*ms = now_ms() - start;
	return rc;
}

/* Routing. */

#define SPREAD_KEYS	300
#define SPREAD_BATCH	10

static void
spread_key(struct redis_key *k, int i)
{
	char	 tag[16];

	snprintf(tag, sizeof tag, "k%d", i);
	tagged(k, tag, "v");
}

static const char *
spread_value(int i)
{
	char	*v = arena_alloc(&arena, 32);

	snprintf(v, 32, "value of key %d", i);
	return v;
}

/* How many nodes serve the keys first.. of one batch. */
static int
nodes_of_batch(int first)
{
	struct redis_key	 k;
	int			 i, seen[NODES] = { 0 }, n = 0;

	for (i = first; i < first + SPREAD_BATCH; i++) {
		spread_key(&k, i);
		seen[owner_of(key_slot(&k))] = 1;
	}
	for (i = 0; i < NODES; i++)
		n += seen[i];
	return n;
}

/* SETs (write) or GETs the keys first.. in one batch; each reply must be
 * its own command's. */
static void
spread_batch(struct redis *s, int first, int write)
{
	struct redis_batch	 b;
	struct redis_key	*k;
	const char		*v;
	size_t			 idx[SPREAD_BATCH];
	int			 i;

	redis_batch_init(&b, &arena, !write);
	for (i = 0; i < SPREAD_BATCH; i++) {
		k = arena_alloc(&arena, sizeof *k);
		spread_key(k, first + i);
		v = spread_value(first + i);
		idx[i] = write ? redis_set(&b, k, v, strlen(v),
		    REDIS_SET_ALWAYS, 0) : redis_get(&b, k);
	}
	if (redis_run(s, &b) != 0)
		fail_msg("batch from key %d: %s", first, redis_errstr(s));
	for (i = 0; i < SPREAD_BATCH; i++)
		assert_string(&b.reply[idx[i]], write ? "OK" :
		    spread_value(first + i));
}

/* How many redirects the nodes have answered between them. */
static long long
redirects(void)
{
	long long	 n = 0;
	int		 i;

	for (i = 0; i < NODES; i++)
		n += errors(i, "MOVED") + errors(i, "ASK");
	return n;
}

/* The key is where CLUSTER KEYSLOT and CLUSTER SLOTS say. */
static void
assert_placed(int i)
{
	struct redis_key	 k;
	long long		 slot;

	spread_key(&k, i);
	slot = run(node[i % NODES].port, "CLUSTER KEYSLOT %s", k.s);
	assert_int_equal(slot, key_slot(&k));
	assert_true(holds(owner_of((unsigned)slot), &k));
}

static void
routing_spreads_keys_over_every_primary(void **state)
{
	struct config	 cfg;
	struct redis	*s;
	long long	 n, total = 0, redirected = redirects();
	int		 i;

	(void)state;
	s = client(&cfg, 1, NULL);
	for (i = 0; i < SPREAD_KEYS; i += SPREAD_BATCH)
		spread_batch(s, i, 1);
	for (i = 0; i < SPREAD_KEYS; i += SPREAD_BATCH) {
		assert_true(nodes_of_batch(i) >= 2);
		spread_batch(s, i, 0);
	}
	/* Each command went straight to its node. */
	assert_int_equal(redirects(), redirected);
	for (i = 0; i < SPREAD_KEYS; i++)
		assert_placed(i);
	for (i = 0; i < NODES; i++) {
		n = run(node[i].port, "DBSIZE");
		assert_true(n > 0);
		total += n;
	}
	assert_int_equal(total, SPREAD_KEYS);
	redis_free(s);
	config_free(&cfg);
}

/* MOVED. */

static void
moved_is_followed_and_the_map_corrected(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_key	 k;
	unsigned		 slot;
	long long		 moved, from_gets, to_gets;
	int			 from, to;

	(void)state;
	tagged(&k, "moving", "v");
	slot = key_slot(&k);
	from = owner_of(slot);
	to = (from + 1) % NODES;
	s = client(&cfg, from, NULL);
	put(s, &k, "moved along");		/* the map is loaded */
	move_slot(slot, from, to);

	moved = errors(from, "MOVED");
	from_gets = calls(from, "get");
	to_gets = calls(to, "get");
	assert_string(fetch(s, &k), "moved along");
	/* Sent to the old owner, which answered MOVED; run by the new. */
	assert_int_equal(errors(from, "MOVED"), moved + 1);
	assert_int_equal(calls(from, "get"), from_gets);
	assert_int_equal(calls(to, "get"), to_gets + 1);

	/* The map says the new owner now: straight there. */
	assert_string(fetch(s, &k), "moved along");
	assert_int_equal(errors(from, "MOVED"), moved + 1);
	assert_int_equal(calls(from, "get"), from_gets);
	assert_int_equal(calls(to, "get"), to_gets + 2);
	redis_free(s);
	config_free(&cfg);
}

/* ASK. */

static void
ask_is_followed_during_a_migration(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_key	 ahead, behind, fresh;
	unsigned		 slot;
	long long		 asks, askings, from_gets, to_gets;
	int			 from, to;

	(void)state;
	tagged(&ahead, "asking", "ahead");
	tagged(&behind, "asking", "behind");
	tagged(&fresh, "asking", "fresh");
	slot = key_slot(&ahead);
	from = owner_of(slot);
	to = (from + 1) % NODES;
	s = client(&cfg, from, NULL);
	put(s, &ahead, "gone ahead");
	put(s, &behind, "left behind");
	begin_migration(slot, from, to);
	migrate_key(from, to, ahead.s);

	asks = errors(from, "ASK");
	askings = calls(to, "asking");
	from_gets = calls(from, "get");
	to_gets = calls(to, "get");
	/* Migrated: the old owner says ASK, the new one serves it. */
	assert_string(fetch(s, &ahead), "gone ahead");
	assert_int_equal(errors(from, "ASK"), asks + 1);
	assert_int_equal(calls(to, "asking"), askings + 1);
	assert_int_equal(calls(to, "get"), to_gets + 1);
	/* Not migrated: served where it is. */
	assert_string(fetch(s, &behind), "left behind");
	assert_int_equal(calls(from, "get"), from_gets + 1);
	assert_int_equal(errors(from, "ASK"), asks + 1);
	/* A new key goes where the slot is going. */
	put(s, &fresh, "new here");
	assert_int_equal(errors(from, "ASK"), asks + 2);
	assert_int_equal(calls(to, "asking"), askings + 2);
	assert_true(holds(to, &fresh));
	assert_false(holds(from, &fresh));
	assert_true(holds(to, &ahead));
	assert_true(holds(from, &behind));
	/* ASK is for one command: the map still names the old owner. */
	assert_string(fetch(s, &ahead), "gone ahead");
	assert_int_equal(errors(from, "ASK"), asks + 3);

	migrate_key(from, to, behind.s);
	end_migration(slot, to);
	assert_string(fetch(s, &behind), "left behind");
	redis_free(s);
	config_free(&cfg);
}

/* A script's keys split by a migration (TRYAGAIN). */

#define SESSION_USER	"splitme"
#define FAR_FUTURE_MS	4102444800000LL	/* 2100: the entry never expires */

/* The index holds one session, h1, whose meta says "since monday". */
static void
assert_one_session(struct redis *s, const struct redis_key *index,
    const struct redis_key *meta)
{
	struct redis_batch	 b;
	const struct redis_value *v;
	size_t			 i;

	redis_batch_init(&b, &arena, 1);
	i = script_index_list(&b, index, meta, 1000);
	if (redis_run(s, &b) != 0)
		fail_msg("index_list: %s", redis_errstr(s));
	v = &b.reply[i];
	assert_int_equal(v->type, REDIS_VALUE_ARRAY);
	assert_int_equal(v->n, 2);
	assert_string(&v->elem[0], "h1");
	assert_string(&v->elem[1], "since monday");
}

static void
tryagain_or_error_is_a_clean_503(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	struct redis_key	 index, meta;
	unsigned		 slot;
	long long		 tryagains;
	int64_t			 start, took;
	int			 from, to;

	(void)state;
	key_index(&index, "test:", SESSION_USER);
	key_index_meta(&meta, "test:", SESSION_USER);
	slot = key_slot(&index);
	assert_int_equal(key_slot(&meta), slot);
	from = owner_of(slot);
	to = (from + 1) % NODES;
	run(node[from].port, "ZADD %s %lld h1", index.s, FAR_FUTURE_MS);
	run(node[from].port, "HSET %s h1 %s", meta.s, "since monday");
	s = client(&cfg, from, NULL);
	assert_one_session(s, &index, &meta);

	begin_migration(slot, from, to);
	migrate_key(from, to, index.s);
	tryagains = errors(from, "TRYAGAIN") + errors(to, "TRYAGAIN");
	redis_batch_init(&b, &arena, 1);
	script_index_list(&b, &index, &meta, 1000);
	start = now_ms();
	assert_int_equal(redis_run(s, &b), -1);
	took = now_ms() - start;
	print_message("split script failed after %lld ms\n", (long long)took);
	assert_true(took < 1000);
	assert_int_equal(redis_fault(s), REDIS_FAULT_ERROR);
	assert_non_null(strstr(redis_errstr(s), "TRYAGAIN"));
	assert_int_equal(redis_status(s, "test"), SHOAL_UNAVAILABLE);
	/* Tried again after a pause, not given up at the first answer. */
	assert_true(errors(from, "TRYAGAIN") + errors(to, "TRYAGAIN") >
	    tryagains + 1);
	/* Nothing was pruned on either side. */
	assert_true(holds(to, &index));
	assert_true(holds(from, &meta));

	migrate_key(from, to, meta.s);
	end_migration(slot, to);
	assert_one_session(s, &index, &meta);
	redis_free(s);
	config_free(&cfg);
}

/* SHOAL_REDIS_ALLOWED. */

/* How many SETs the nodes have run between them. */
static long long
sets_run(void)
{
	long long	 n = 0;
	int		 i;

	for (i = 0; i < NODES; i++)
		n += calls(i, "set");
	return n;
}

/* Every node in CLUSTER SLOTS is 127.0.0.1, which is not allowed. */
static void
a_map_outside_allowed_is_refused(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	struct redis_key	 k;
	long long		 sets;

	(void)state;
	tagged(&k, "refused", "v");
	sets = sets_run();
	s = client(&cfg, 0, "127.0.0.2");
	redis_batch_init(&b, &arena, 0);
	redis_set(&b, &k, "written", 7, REDIS_SET_ALWAYS, 0);
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_CONNECT);
	assert_int_not_equal(redis_status(s, "test"), SHOAL_OK);
	assert_false(holds(owner_of(key_slot(&k)), &k));
	assert_int_equal(sets_run(), sets);
	redis_free(s);
	config_free(&cfg);
}

/*
 * Node n gives clients host as its address (cluster-announce-hostname,
 * every node naming nodes by their hostname in redirects), once peer
 * knows it.
 */
static void
announce(int n, const char *host, int peer)
{
	redisReply	*r;
	int64_t		 until = now_ms() + GOSSIP_WAIT_MS;
	char		 want[128];
	int		 i, known;

	for (i = 0; i < NODES; i++)
		run(node[i].port, "CONFIG SET cluster-preferred-endpoint-type "
		    "hostname");
	run(node[n].port, "CONFIG SET cluster-announce-hostname %s", host);
	snprintf(want, sizeof want, "%d@%d,%s ", node[n].port,
	    node[n].bus_port, host);
	do {
		r = query(node[peer].port, "CLUSTER NODES");
		known = strstr(r->str, want) != NULL;
		freeReplyObject(r);
		if (known)
			return;
		usleep(50000);
	} while (now_ms() < until);
	fail_msg("node %d never learnt node %d's hostname", peer, n);
}

/* Every node named by its address again, even after a failure. */
static int
teardown_announced(void **state)
{
	redisReply	*r;
	int		 i;

	for (i = 0; i < NODES; i++) {
		if ((r = try_query(node[i].port, "CONFIG SET "
		    "cluster-preferred-endpoint-type ip")) != NULL)
			freeReplyObject(r);
		if ((r = try_query(node[i].port, "CONFIG SET "
		    "cluster-announce-hostname %s", "")) != NULL)
			freeReplyObject(r);
	}
	return teardown(state);
}

/* The map is allowed; the node a slot moved to says it is elsewhere. */
static void
a_redirect_outside_allowed_is_refused(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_batch	 b;
	struct redis_key	 k;
	redisReply		*r;
	unsigned		 slot;
	long long		 moved, sets;
	int			 from, to;

	(void)state;
	tagged(&k, "elsewhere", "v");
	slot = key_slot(&k);
	from = owner_of(slot);
	to = (from + 1) % NODES;
	s = client(&cfg, from, "127.0.0.1");
	put(s, &k, "kept");			/* the map is loaded */
	announce(to, "127.0.0.2", from);
	move_slot(slot, from, to);

	moved = errors(from, "MOVED");
	sets = sets_run();
	redis_batch_init(&b, &arena, 0);
	redis_set(&b, &k, "overwritten", 11, REDIS_SET_ALWAYS, 0);
	assert_int_equal(redis_run(s, &b), -1);
	assert_int_equal(redis_fault(s), REDIS_FAULT_ERROR);
	assert_non_null(strstr(redis_errstr(s), "127.0.0.2"));
	assert_int_not_equal(redis_status(s, "test"), SHOAL_OK);
	/* The redirect came, and was not followed. */
	assert_int_equal(errors(from, "MOVED"), moved + 1);
	assert_int_equal(sets_run(), sets);
	r = query(node[to].port, "GET %s", k.s);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_string_equal(r->str, "kept");
	freeReplyObject(r);
	redis_free(s);
	config_free(&cfg);
}

/* A dead primary: last, as it breaks the cluster. */

/* A key of tag stem+number that node n serves. */
static void
key_served_by(struct redis_key *k, const char *stem, int n)
{
	char	 tag[32];
	int	 i;

	for (i = 0; i < 1000; i++) {
		snprintf(tag, sizeof tag, "%s%d", stem, i);
		tagged(k, tag, "v");
		if (owner_of(key_slot(k)) == n)
			return;
	}
	fail_msg("no key of node %d", n);
}

/* A GET that fails as a 503, in bounded time. */
static void
assert_unavailable(struct redis *s, const struct redis_key *k)
{
	int64_t	 took;

	assert_int_equal(timed_fetch(s, k, &took), -1);
	assert_true(took <= CLIENT_TIMEOUT_MS + MARGIN_MS);
	assert_int_equal(redis_status(s, "test"), SHOAL_UNAVAILABLE);
}

static void
clusterdown_and_a_dead_node_are_unavailable(void **state)
{
	struct config		 cfg;
	struct redis		*s;
	struct redis_key	 alive, doomed;
	int64_t			 killed, took, longest = 0;
	long long		 clusterdowns;
	int			 dead = NODES - 1, status;

	(void)state;
	key_served_by(&alive, "alive", 0);
	key_served_by(&doomed, "doomed", dead);
	s = client(&cfg, 0, NULL);
	put(s, &alive, "a");
	put(s, &doomed, "d");			/* connected to both */

	kill(node[dead].pid, SIGKILL);
	waitpid(node[dead].pid, &status, 0);
	node[dead].pid = 0;
	killed = now_ms();

	/* The dead node's slots: nobody answers there. */
	assert_unavailable(s, &doomed);

	/* The others' slots: served until they agree it failed. */
	while (timed_fetch(s, &alive, &took) == 0) {
		if (took > longest)
			longest = took;
		if (now_ms() - killed > FAIL_WAIT_MS)
			fail_msg("still served %d ms after the kill",
			    FAIL_WAIT_MS);
		usleep(50000);
	}
	print_message("CLUSTERDOWN after %lld ms\n",
	    (long long)(now_ms() - killed));
	assert_true(took <= CLIENT_TIMEOUT_MS + MARGIN_MS);
	assert_true(longest <= CLIENT_TIMEOUT_MS + MARGIN_MS);
	assert_int_equal(redis_fault(s), REDIS_FAULT_ERROR);
	assert_non_null(strstr(redis_errstr(s), "CLUSTERDOWN"));
	assert_int_equal(redis_status(s, "test"), SHOAL_UNAVAILABLE);

	/* And still, for both; a CLUSTERDOWN is not asked again. */
	clusterdowns = errors(0, "CLUSTERDOWN") + errors(1, "CLUSTERDOWN");
	assert_unavailable(s, &alive);
	assert_int_equal(errors(0, "CLUSTERDOWN") + errors(1, "CLUSTERDOWN"),
	    clusterdowns + 1);
	assert_unavailable(s, &doomed);
	redis_free(s);
	config_free(&cfg);
}

#define TEST(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(routing_spreads_keys_over_every_primary),
		TEST(moved_is_followed_and_the_map_corrected),
		TEST(ask_is_followed_during_a_migration),
		TEST(tryagain_or_error_is_a_clean_503),
		TEST(a_map_outside_allowed_is_refused),
		cmocka_unit_test_setup_teardown(
		    a_redirect_outside_allowed_is_refused, setup,
		    teardown_announced),
		TEST(clusterdown_and_a_dead_node_are_unavailable),
	};

	return cmocka_run_group_tests_name("cluster", tests, group_setup,
	    group_teardown);
}
