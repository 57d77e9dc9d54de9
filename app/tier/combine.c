/*
 * combine.c - one writer per session in a process, the others' changes
 * handed to it (see combine.h).
 *
 * A small table of the sessions being changed right now, each with its
 * queue of waiting changes. The first thread to change a session claims
 * its slot and leads; a thread that finds the slot claimed for the same
 * session queues its change and sleeps until the leader has written it.
 * When the leader is done, the oldest change queued meanwhile leads the
 * next write. A session whose slot (and the few after it) is claimed for
 * other sessions is changed the old way, alone.
 */
#include <stdint.h>
#include <string.h>

#include "combine.h"
#include "keys.h"

#define COMBINE_SLOTS	64	/* sessions changed at once in a process */
#define COMBINE_PROBE	4	/* slots tried from a key's own */

enum op_state {
	OP_WAITING,
	OP_LEADS,
	OP_DONE,
};

struct combine_slot {
	char			 key[KEY_MAX];
	int			 claimed;	/* a leader is at work */
	struct combine_op	*head, *tail;	/* the changes waiting */
};

static pthread_mutex_t		lock = PTHREAD_MUTEX_INITIALIZER;
static struct combine_slot	slots[COMBINE_SLOTS];

static uint32_t
fnv1a(const char *s)
{
	uint32_t	 h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* key's claimed slot, else a free one near it (not yet claimed), else
 * NULL. Under lock. */
static struct combine_slot *
find(const char *key)
{
	struct combine_slot	*s, *free_slot = NULL;
	uint32_t		 h = fnv1a(key);
	int			 i;

	for (i = 0; i < COMBINE_PROBE; i++) {
		s = &slots[(h + (uint32_t)i) % COMBINE_SLOTS];
		if (s->claimed && strcmp(s->key, key) == 0)
			return s;
		if (!s->claimed && free_slot == NULL)
			free_slot = s;
	}
	return free_slot;
}

enum combine_role
combine_join(const char *key, struct combine_op *op)
{
	struct combine_slot	*s;
	enum combine_role	 role;

	if (strlen(key) >= KEY_MAX)
		return COMBINE_ALONE;
	op->next = NULL;
	pthread_mutex_lock(&lock);
	if ((s = find(key)) == NULL) {
		pthread_mutex_unlock(&lock);
		return COMBINE_ALONE;
	}
	op->slot = s;
	if (!s->claimed) {
		s->claimed = 1;
		memcpy(s->key, key, strlen(key) + 1);
		s->head = s->tail = NULL;
		pthread_mutex_unlock(&lock);
		return COMBINE_LEAD;
	}
	op->state = OP_WAITING;
	pthread_cond_init(&op->done, NULL);
	if (s->tail != NULL)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
	while (op->state == OP_WAITING)
		pthread_cond_wait(&op->done, &lock);
	role = op->state == OP_LEADS ? COMBINE_LEAD : COMBINE_DONE;
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&op->done);
	return role;
}

struct combine_op *
combine_take(struct combine_op *own)
{
	struct combine_slot	*s = own->slot;

	pthread_mutex_lock(&lock);
	own->next = s->head;
	s->head = s->tail = NULL;
	pthread_mutex_unlock(&lock);
	return own;
}

void
combine_finish(struct combine_op *own, struct combine_op *batch)
{
	struct combine_slot	*s = own->slot;
	struct combine_op	*op, *next, *lead;

	pthread_mutex_lock(&lock);
	/* A woken op returns and its stack frame goes as soon as we unlock:
	 * read next first. */
	for (op = batch; op != NULL; op = next) {
		next = op->next;
		if (op == own)
			continue;
		op->state = OP_DONE;
		pthread_cond_signal(&op->done);
	}
	if ((lead = s->head) != NULL) {
		/* The slot stays claimed: the oldest waiting change leads. */
		s->head = lead->next;
		if (s->head == NULL)
			s->tail = NULL;
		lead->next = NULL;
		lead->state = OP_LEADS;
		pthread_cond_signal(&lead->done);
	} else
		s->claimed = 0;
	pthread_mutex_unlock(&lock);
}
