/*
 * combine.h - changes to one session from several threads of a process at
 * once, written together (flat combining).
 *
 * Without it, every request that changes a session loads the record, changes
 * its copy and writes it back with compare-and-set; when many requests
 * change one session at once (a user's tabs, a script hammering its own
 * cart) all but one lose each race and try again, a round trip each time.
 * With it, the first thread of a process to change a session leads: it
 * takes every change the process's other threads queued for that session
 * meanwhile, applies them all, in order, to one copy of the record and
 * writes it with one compare-and-set. The others wait for the result
 * instead of racing it to Redis. Nothing is lost: each change is applied
 * exactly once to the record that is written, and each request answers
 * from that record. No lock is held across a round trip: the mutex guards
 * the queues only, and a thread waits for its change, not for a lock.
 */
#ifndef COMBINE_H
#define COMBINE_H

#include <pthread.h>
#include <stddef.h>

#include "shoal.h"

struct combine_slot;

/* One change waiting in a session's queue, on its thread's stack. */
struct combine_op {
	struct shoal_req	*r;
	shoal_change_fn		 fn;
	void			*arg;
	/* Set by the leader: */
	enum shoal_status	 status;
	int			 rejected;	/* its fn said SHOAL_REJECTED */
	int			 alone;		/* try it on its own */
	int			 written;	/* the record was written */
	unsigned char		*bytes;		/* the record written, in r's */
	size_t			 len;		/* arena (status SHOAL_OK) */
	/* combine.c's: */
	int			 state;
	pthread_cond_t		 done;
	struct combine_slot	*slot;
	struct combine_op	*next;
};

enum combine_role {
	COMBINE_ALONE,		/* not combined: change it as before */
	COMBINE_LEAD,		/* this thread writes: combine_take, then
				 * combine_finish */
	COMBINE_DONE,		/* another thread applied it: op->status */
};

/* Queues op for the session key (op->r, fn, arg set). */
enum combine_role combine_join(const char *key, struct combine_op *op);
/* The leader's batch: its own op first, then every op queued since, in
 * order, linked by next. */
struct combine_op *combine_take(struct combine_op *own);
/* Hands every op of the batch but own its result and wakes it; the next
 * queued op, if any, leads next. */
void	combine_finish(struct combine_op *own, struct combine_op *batch);

#endif
