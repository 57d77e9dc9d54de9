/*
 * redis_share.c - the threads of a process on one Redis connection, their
 * concurrent batches sent together (see redis.h, SHOAL_REDIS_BATCH).
 *
 * Under load every thread of a worker process waits on Redis for most of
 * each request, and Redis spends far more per command when each arrives in
 * a write of its own (a read, a write and an event-loop turn each) than
 * when several share one. So the first thread to run a batch leads: it
 * takes every batch the process's other threads queued meanwhile, sends
 * them all in one write on the process's connection, reads the replies in
 * order into each batch and wakes its owner. Batches that arrive while it
 * waits on Redis are queued, and the oldest of them leads the next write
 * as soon as this one is answered. Nothing waits for company: a batch
 * alone is sent at once, so a quiet process costs the same round trip as
 * before. No lock is held across a round trip: the mutex guards the queue
 * only, and the connection belongs to whichever thread leads.
 *
 * A batch's outcome is its own: an error reply fails the batch it answers,
 * not the others of the write; a connection that breaks fails the batches
 * whose replies had not all come, and the idempotent ones among them are
 * sent again once on a fresh connection, as redis_run does for one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "oom.h"
#include "redis_link.h"

#define SHARE_WRITE_MAX	64	/* batches in one write, at most */

enum job_state {
	JOB_WAITING,
	JOB_LEADS,
	JOB_DONE,
};

/* One batch in the queue, on its thread's stack. */
struct share_job {
	struct redis_batch	*b;
	enum job_state		 state;
	pthread_cond_t		*wake;		/* its thread's */
	int			 rc;
	enum redis_fault	 fault;
	char			 errstr[REDIS_ERRSTR_MAX];
	struct share_job	*next;
};

struct redis_share {
	pthread_mutex_t		 lock;
	struct share_job	*head, *tail;	/* waiting for a write */
	int			 leading;	/* a thread holds conn */
	int			 drop;		/* a reply was unusable */
	struct redis		*conn;		/* the leader's alone */
};

struct redis_share *
redis_share_new(const struct config *cfg)
{
	struct redis_share	*sh = xcalloc(1, sizeof *sh);

	if ((errno = pthread_mutex_init(&sh->lock, NULL)) != 0)
		oom();
	sh->conn = redis_new(cfg);
	return sh;
}

void
redis_share_free(struct redis_share *sh)
{
	if (sh == NULL)
		return;
	redis_free(sh->conn);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

void
redis_share_drop(struct redis_share *sh)
{
	pthread_mutex_lock(&sh->lock);
	sh->drop = 1;
	pthread_mutex_unlock(&sh->lock);
}

/* The outcome of a batch the write carried: failed when its replies did
 * not all come, or one of them is an error. Returns 1 for an error reply
 * that means the node cannot serve anyone now (READONLY after a failover,
 * LOADING): the connection is then dropped, to find the primary again. */
static int
settle(struct share_job *job, int answered, const struct redis *conn)
{
	struct redis_batch	*b = job->b;
	size_t			 i;

	if (!answered) {
		job->rc = -1;
		job->fault = conn->fault;
		memcpy(job->errstr, conn->errstr, sizeof job->errstr);
		return 0;
	}
	for (i = 0; i < b->n; i++) {
		if (b->reply[i].type != REDIS_VALUE_ERROR)
			continue;
		job->rc = -1;
		job->fault = REDIS_FAULT_ERROR;
		snprintf(job->errstr, sizeof job->errstr, "%s",
		    b->reply[i].str);
		return redis_error_transient(b->reply[i].str);
	}
	job->rc = 0;
	job->fault = REDIS_FAULT_NONE;
	job->errstr[0] = '\0';
	return 0;
}

/*
 * The leader's turn, entered and left with the lock held: takes the queue
 * (its own job first), sends it in one write without the lock, settles
 * every job, wakes the others and hands the lead to the oldest job queued
 * meanwhile.
 */
static void
lead(struct redis_share *sh)
{
	struct share_job	*job[SHARE_WRITE_MAX], *j;
	struct redis_batch	*b[SHARE_WRITE_MAX];
	int			 done[SHARE_WRITE_MAX], drop, lost = 0;
	size_t			 n = 0, i;

	while (sh->head != NULL && n < SHARE_WRITE_MAX) {
		j = sh->head;
		sh->head = j->next;
		job[n] = j;
		b[n++] = j->b;
	}
	if (sh->head == NULL)
		sh->tail = NULL;
	drop = sh->drop;
	sh->drop = 0;
	pthread_mutex_unlock(&sh->lock);

	if (drop)
		link_drop_now(&sh->conn->primary, "unusable reply");
	sh->conn->fault = REDIS_FAULT_NONE;
	sh->conn->errstr[0] = '\0';
	link_run_many(sh->conn, &sh->conn->primary, b, n, done);
	for (i = 0; i < n; i++)
		lost |= settle(job[i], done[i], sh->conn);
	if (lost)
		link_drop(&sh->conn->primary, "error reply");

	pthread_mutex_lock(&sh->lock);
	for (i = 0; i < n; i++) {
		job[i]->state = JOB_DONE;
		pthread_cond_signal(job[i]->wake);
	}
	if (sh->head != NULL) {
		sh->head->state = JOB_LEADS;
		pthread_cond_signal(sh->head->wake);
	} else
		sh->leading = 0;
}

/* Whether one of a thread's jobs leads (-1: all are done, 0: waiting). */
static int
turn(const struct share_job *job, size_t n)
{
	size_t	 i;
	int	 done = 1;

	for (i = 0; i < n; i++) {
		if (job[i].state == JOB_LEADS)
			return 1;
		if (job[i].state != JOB_DONE)
			done = 0;
	}
	return done ? -1 : 0;
}

void
redis_share_run_each(struct redis_share *sh, struct redis *s,
    struct redis_batch **b, size_t n, int *rc)
{
	struct share_job	 job[REDIS_EACH_MAX];
	pthread_cond_t		 wake;
	size_t			 i;
	int			 t;

	if (n > REDIS_EACH_MAX)
		abort();
	if ((errno = pthread_cond_init(&wake, NULL)) != 0)
		oom();
	memset(job, 0, n * sizeof *job);
	pthread_mutex_lock(&sh->lock);
	for (i = 0; i < n; i++) {
		job[i].b = b[i];
		job[i].wake = &wake;
		if (sh->tail != NULL)
			sh->tail->next = &job[i];
		else
			sh->head = &job[i];
		sh->tail = &job[i];
	}
	if (!sh->leading) {
		sh->leading = 1;
		job[0].state = JOB_LEADS;
	}
	while ((t = turn(job, n)) >= 0) {
		if (t == 1)
			lead(sh);
		else
			pthread_cond_wait(&wake, &sh->lock);
	}
	pthread_mutex_unlock(&sh->lock);
	pthread_cond_destroy(&wake);
	for (i = 0; i < n; i++)
		rc[i] = job[i].rc;
	if (job[0].rc != 0)
		redis_set_fault(s, job[0].fault, job[0].errstr);
}
