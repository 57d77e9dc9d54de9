/*
 * pwhash.c - password hashing behind a gate, on a pool of low-priority
 * threads (see pwhash.h).
 *
 * A sign-in's thread waits for a turn (one of the pool's threads that no
 * other sign-in has claimed), at most SHOAL_HASH_WAIT_MS, else the caller
 * answers 503; then it puts its hash on the queue and sleeps until a pool
 * thread has done it. Without a started pool (the command-line tools) the
 * caller takes a turn the same way and hashes itself.
 */
#include <sys/resource.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pwhash.h"

struct job {
	const char		*password;
	const char		*hash;		/* to verify against, or NULL */
	char			*out;		/* to hash into */
	int			 rc;		/* libsodium's answer */
	int			 done;
	pthread_cond_t		 changed;
	struct job		*next;
};

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 turn;		/* a turn came free */
static pthread_cond_t	 work;		/* a job came, a pool thread
					 * started, or stop */
static pthread_once_t	 once = PTHREAD_ONCE_INIT;
static long		 concurrency = 1;
static long		 free_turns = 1;
static long		 max_wait_ms = 1000;
static void		(*before_wait)(void);

static pthread_t	*pool;
static long		 pool_size;
static long		 pool_ready;
static int		 stopping;
static struct job	*queue_head, **queue_tail = &queue_head;

/* Condition variables wait on the monotonic clock: a change of the wall
 * clock must not cut a wait short or stretch it. */
static void
init_cond_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t	 a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

static void
init_conds(void)
{
	init_cond_monotonic(&turn);
	init_cond_monotonic(&work);
}

void
pwhash_init(long n, long wait_ms)
{
	pthread_once(&once, init_conds);
	pthread_mutex_lock(&lock);
	concurrency = free_turns = n > 0 ? n : 1;
	max_wait_ms = wait_ms >= 0 ? wait_ms : 0;
	pthread_mutex_unlock(&lock);
}

void
pwhash_on_wait(void (*fn)(void))
{
	before_wait = fn;
}

static void
deadline_in(struct timespec *until, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, until);
	until->tv_sec += ms / 1000;
	until->tv_nsec += (ms % 1000) * 1000000;
	if (until->tv_nsec >= 1000000000) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000;
	}
}

static int
run_job(struct job *j)
{
	if (j->hash != NULL)
		return crypto_pwhash_str_verify(j->hash, j->password,
		    strlen(j->password));
	return crypto_pwhash_str(j->out, j->password, strlen(j->password),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE, PWHASH_MEMORY);
}

/*
 * A pool thread: lowers its own priority once (on Linux a nice value is a
 * thread's, and an unprivileged one can never raise it again, which is why
 * hashing has threads of its own), then takes jobs in order until stopped.
 */
static void *
pool_main(void *arg)
{
	int		 nice_value = (int)(long)arg;
	struct job	*j;

	pthread_setname_np(pthread_self(), "shoal-hash");
	if (nice_value > 0 && setpriority(PRIO_PROCESS, (id_t)gettid(),
	    nice_value) != 0)
		log_event("warn", "password hashing keeps the request threads' "
		    "priority: setpriority: %s", strerror(errno));
	pthread_mutex_lock(&lock);
	pool_ready++;
	pthread_cond_broadcast(&work);
	for (;;) {
		while (queue_head == NULL && !stopping)
			pthread_cond_wait(&work, &lock);
		if (queue_head == NULL)
			break;
		j = queue_head;
		if ((queue_head = j->next) == NULL)
			queue_tail = &queue_head;
		pthread_mutex_unlock(&lock);
		j->rc = run_job(j);
		pthread_mutex_lock(&lock);
		j->done = 1;
		pthread_cond_signal(&j->changed);
	}
	pthread_mutex_unlock(&lock);
	log_thread_done();
	return NULL;
}

int
pwhash_start(int nice_value, char *err, size_t errsz)
{
	long	 i;

	pthread_once(&once, init_conds);
	if (pool != NULL)
		return 0;
	if ((pool = calloc((size_t)concurrency, sizeof *pool)) == NULL) {
		snprintf(err, errsz, "cannot start password hashing: %s",
		    strerror(errno));
		return -1;
	}
	stopping = 0;
	for (i = 0; i < concurrency; i++) {
		if ((errno = pthread_create(&pool[i], NULL, pool_main,
		    (void *)(long)nice_value)) != 0) {
			snprintf(err, errsz, "cannot start password hashing: "
			    "%s", strerror(errno));
			pool_size = i;
			pwhash_stop();
			return -1;
		}
		pool_size = i + 1;
	}
	/* Back only once every pool thread has made its start-up calls: the
	 * worker's sandbox comes next and allows no setpriority. */
	pthread_mutex_lock(&lock);
	while (pool_ready < pool_size)
		pthread_cond_wait(&work, &lock);
	pthread_mutex_unlock(&lock);
	return 0;
}

void
pwhash_stop(void)
{
	long	 i;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_broadcast(&work);
	pthread_mutex_unlock(&lock);
	for (i = 0; i < pool_size; i++)
		pthread_join(pool[i], NULL);
	free(pool);
	pool = NULL;
	pool_size = pool_ready = 0;
}

/*
 * Waits until one of the gate's turns is free, at most until the deadline;
 * -1 if none came. With a pool, a turn is a pool thread that nobody else
 * has claimed: a job queued with a turn is taken at once.
 */
static int
take_turn(struct timespec *until)
{
	int	 rc = 0;

	pthread_mutex_lock(&lock);
	metrics_set(METRIC_HASHES_WAITING, free_turns == 0);
	while (free_turns == 0 && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&turn, &lock, until);
	metrics_set(METRIC_HASHES_WAITING, 0);
	rc = free_turns > 0 ? 0 : -1;
	if (rc == 0)
		free_turns--;
	pthread_mutex_unlock(&lock);
	return rc;
}

static void
give_turn(void)
{
	pthread_mutex_lock(&lock);
	free_turns++;
	pthread_cond_signal(&turn);
	pthread_mutex_unlock(&lock);
}

/* Hands the job to the pool and sleeps until it is done. */
static void
hash_on_pool(struct job *j)
{
	pthread_cond_init(&j->changed, NULL);
	j->done = 0;
	j->next = NULL;
	pthread_mutex_lock(&lock);
	*queue_tail = j;
	queue_tail = &j->next;
	pthread_cond_signal(&work);
	while (!j->done)
		pthread_cond_wait(&j->changed, &lock);
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&j->changed);
}

/* Hashes or verifies, on the pool when there is one; -1: no turn in time. */
static int
hash(struct job *j)
{
	struct timespec	 until;
	int		 rc;

	if (before_wait != NULL)
		before_wait();
	pthread_once(&once, init_conds);
	deadline_in(&until, max_wait_ms);
	rc = take_turn(&until);
	metrics_count(rc == 0 ? METRIC_HASHES : METRIC_HASHES_REFUSED);
	if (rc != 0) {
		log_event("warn", "no turn to hash a password within %ld ms",
		    max_wait_ms);
		return -1;
	}
	if (pool != NULL)
		hash_on_pool(j);
	else
		j->rc = run_job(j);
	give_turn();
	return 0;
}

enum pwhash_result
pwhash_str(char out[crypto_pwhash_STRBYTES], const char *password)
{
	struct job	 j = { .password = password, .out = out };

	if (hash(&j) != 0)
		return PWHASH_BUSY;
	if (j.rc != 0) {
		log_event("error", "password hashing ran out of memory");
		return PWHASH_FAILED;
	}
	return PWHASH_OK;
}

enum pwhash_result
pwhash_verify(const char *hash_str, const char *password)
{
	struct job	 j = { .password = password, .hash = hash_str };

	if (hash(&j) != 0)
		return PWHASH_BUSY;
	return j.rc == 0 ? PWHASH_OK : PWHASH_MISMATCH;
}
