/*
 * test_pwhash.c - pwhash.h: the gate's turns, and the pool of hashing
 * threads at their own nice value, read back from /proc/self/task.
 */
#include <dirent.h>
#include <pthread.h>
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

#include "log.h"
#include "pwhash.h"

struct task {
	char	 comm[32];
	long	 nice;
	long	 cpu_ticks;	/* utime + stime */
};

/* One thread of this process from /proc/self/task/TID/stat; -1 if gone. */
static int
read_task(long tid, struct task *t)
{
	char	 path[64], line[1024], *p;
	char	*end;
	FILE	*f;
	int	 field;
	long	 v;

	snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(line, sizeof line, f);
	fclose(f);
	if (p == NULL || (p = strchr(line, '(')) == NULL ||
	    (end = strrchr(line, ')')) == NULL)
		return -1;
	snprintf(t->comm, sizeof t->comm, "%.*s", (int)(end - p - 1), p + 1);
	t->cpu_ticks = 0;
	/* Fields after the name: 3 state, ..., 14 utime, 15 stime, 19 nice. */
	p = end + 2;
	for (field = 3; field <= 19 && *p != '\0'; field++) {
		v = strtol(p, &end, 10);
		if (field == 14 || field == 15)
			t->cpu_ticks += v;
		if (field == 19)
			t->nice = v;
		p = strchr(p, ' ');
		if (p == NULL)
			return -1;
		p++;
	}
	return 0;
}

/* The hashing threads: how many, their nice values (all equal: *nice, or
 * -100 if they differ) and their CPU ticks together. */
static int
hash_threads(long *nice, long *ticks)
{
	DIR		*d;
	struct dirent	*e;
	struct task	 t;
	int		 n = 0;

	*nice = 0;
	*ticks = 0;
	assert_non_null(d = opendir("/proc/self/task"));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || read_task(atol(e->d_name), &t) != 0 ||
		    strcmp(t.comm, "shoal-hash") != 0)
			continue;
		*nice = n == 0 || *nice == t.nice ? t.nice : -100;
		*ticks += t.cpu_ticks;
		n++;
	}
	closedir(d);
	return n;
}

static long
my_ticks(void)
{
	struct task	 t;

	assert_int_equal(read_task((long)gettid(), &t), 0);
	return t.cpu_ticks;
}

static void
without_a_pool_the_caller_hashes_and_verifies(void **state)
{
	char	 h[crypto_pwhash_STRBYTES];
	long	 nice, ticks;

	(void)state;
	pwhash_init(1, 1000);
	assert_int_equal(hash_threads(&nice, &ticks), 0);
	assert_int_equal(pwhash_str(h, "correct horse"), PWHASH_OK);
	assert_int_equal(pwhash_verify(h, "correct horse"), PWHASH_OK);
	assert_int_equal(pwhash_verify(h, "correct horsf"), PWHASH_MISMATCH);
}

/*
 * The pool: a thread per turn, named, at the nice value asked for; a hash
 * asked for on this thread is done by them (their CPU time grows by at
 * least a hash's, this thread's by less), and this thread's own priority
 * stays what it was.
 */
static void
the_pool_hashes_on_its_own_threads_at_their_nice_value(void **state)
{
	char	 h[crypto_pwhash_STRBYTES], err[128];
	long	 nice, before, after, mine, my_nice;
	struct task	 me;
	int	 i;

	(void)state;
	pwhash_init(2, 1000);
	assert_int_equal(read_task((long)gettid(), &me), 0);
	my_nice = me.nice;
	assert_int_equal(pwhash_start(7, err, sizeof err), 0);
	assert_int_equal(hash_threads(&nice, &before), 2);
	assert_int_equal(nice, 7);
	mine = my_ticks();
	for (i = 0; i < 4; i++) {
		assert_int_equal(pwhash_str(h, "correct horse"), PWHASH_OK);
		assert_int_equal(pwhash_verify(h, "correct horse"), PWHASH_OK);
		assert_int_equal(pwhash_verify(h, "battery"), PWHASH_MISMATCH);
	}
	mine = my_ticks() - mine;
	assert_int_equal(hash_threads(&nice, &after), 2);
	/* Twelve Argon2id runs of 64 MiB: tenths of a second of CPU at least. */
	assert_true(after - before >= 10);
	assert_true(mine * 4 < after - before);
	assert_int_equal(read_task((long)gettid(), &me), 0);
	assert_int_equal(me.nice, my_nice);
	pwhash_stop();
	assert_int_equal(hash_threads(&nice, &after), 0);
	/* Stopped, the caller hashes itself again. */
	assert_int_equal(pwhash_verify(h, "correct horse"), PWHASH_OK);
}

struct racer {
	pthread_barrier_t	*go;
	const char		*hash;
	enum pwhash_result	 result;
};

static void *
race(void *arg)
{
	struct racer	*r = arg;

	pthread_barrier_wait(r->go);
	r->result = pwhash_verify(r->hash, "correct horse");
	log_thread_done();		/* the refusal's log line */
	return NULL;
}

/*
 * One turn and no wait: of four sign-ins at once on the pool, the one that
 * gets the turn is verified and at least one other is turned away busy,
 * none of them wrongly.
 */
static void
with_no_turn_free_a_hash_is_turned_away_busy(void **state)
{
	char			 h[crypto_pwhash_STRBYTES], err[128];
	pthread_barrier_t	 go;
	pthread_t		 tid[4];
	struct racer		 r[4];
	int			 i, ok = 0, busy = 0;

	(void)state;
	pwhash_init(1, 1000);
	assert_int_equal(pwhash_str(h, "correct horse"), PWHASH_OK);
	pwhash_init(1, 0);
	assert_int_equal(pwhash_start(5, err, sizeof err), 0);
	assert_int_equal(pthread_barrier_init(&go, NULL, 4), 0);
	for (i = 0; i < 4; i++) {
		r[i].go = &go;
		r[i].hash = h;
		assert_int_equal(pthread_create(&tid[i], NULL, race, &r[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		ok += r[i].result == PWHASH_OK;
		busy += r[i].result == PWHASH_BUSY;
	}
	pthread_barrier_destroy(&go);
	pwhash_stop();
	assert_int_equal(ok + busy, 4);
	assert_true(ok >= 1);
	assert_true(busy >= 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(without_a_pool_the_caller_hashes_and_verifies),
		cmocka_unit_test(
		    the_pool_hashes_on_its_own_threads_at_their_nice_value),
		cmocka_unit_test(with_no_turn_free_a_hash_is_turned_away_busy),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
