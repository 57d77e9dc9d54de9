/*
 * pwhash.c - password hashing behind a gate (see pwhash.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "pwhash.h"

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 turn;
static pthread_once_t	 once = PTHREAD_ONCE_INIT;
static long		 free_turns = 1;
static long		 max_wait_ms = 1000;
static void		(*before_wait)(void);

/* The condition variable waits on the monotonic clock: a change of the
 * wall clock must not cut a wait short or stretch it. */
static void
init_cond(void)
{
	pthread_condattr_t	 a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&turn, &a);
	pthread_condattr_destroy(&a);
}

void
pwhash_init(long concurrency, long wait_ms)
{
	pthread_once(&once, init_cond);
	pthread_mutex_lock(&lock);
	free_turns = concurrency > 0 ? concurrency : 1;
	max_wait_ms = wait_ms >= 0 ? wait_ms : 0;
	pthread_mutex_unlock(&lock);
}

void
pwhash_on_wait(void (*fn)(void))
{
	before_wait = fn;
}

static int
take_turn(void)
{
	struct timespec	 until;
	int		 rc = 0;

	if (before_wait != NULL)
		before_wait();
	pthread_once(&once, init_cond);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += max_wait_ms / 1000;
	until.tv_nsec += (max_wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lock);
	metrics_set(METRIC_HASHES_WAITING, free_turns == 0);
	while (free_turns == 0 && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&turn, &lock, &until);
	metrics_set(METRIC_HASHES_WAITING, 0);
	if (free_turns > 0) {
		free_turns--;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	metrics_count(rc == 0 ? METRIC_HASHES : METRIC_HASHES_REFUSED);
	if (rc != 0)
		log_event("warn", "no turn to hash a password within %ld ms",
		    max_wait_ms);
	return rc == 0 ? 0 : -1;
}

static void
give_turn(void)
{
	pthread_mutex_lock(&lock);
	free_turns++;
	pthread_cond_signal(&turn);
	pthread_mutex_unlock(&lock);
}

enum pwhash_result
pwhash_str(char out[crypto_pwhash_STRBYTES], const char *password)
{
	int	 rc;

	if (take_turn() != 0)
		return PWHASH_BUSY;
	rc = crypto_pwhash_str(out, password, strlen(password),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE, PWHASH_MEMORY);
	give_turn();
	if (rc != 0) {
		log_event("error", "password hashing ran out of memory");
		return PWHASH_FAILED;
	}
	return PWHASH_OK;
}

enum pwhash_result
pwhash_verify(const char *hash, const char *password)
{
	int	 rc;

	if (take_turn() != 0)
		return PWHASH_BUSY;
	rc = crypto_pwhash_str_verify(hash, password, strlen(password));
	give_turn();
	return rc == 0 ? PWHASH_OK : PWHASH_MISMATCH;
}
