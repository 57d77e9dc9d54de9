/*
 * session.c - loading, changing (a guest's first change creating it) and
 * ending sessions (see session.h and the session calls in shoal.h); the
 * sign-ins that start a user's session are in signin.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "appdata.h"
#include "combine.h"
#include "config.h"
#include "index.h"
#include "keyring.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "oom.h"
#include "record.h"
#include "redis.h"
#include "request.h"
#include "ryw.h"
#include "scripts.h"
#include "session.h"
#include "throttle.h"

int64_t
session_now(void)
{
	return (int64_t)time(NULL);
}

int64_t
session_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned char *
session_encode_to_write(struct arena *a, Shoal__Session *s, size_t *len)
{
	s->ttl_set_ms = session_now_ms();
	return record_session_encode(a, s, len);
}

/* The idle window and the absolute lifetime of a kind of session (s). */
void
session_lifetimes(const struct config *cfg, int kind, int64_t *idle,
    int64_t *max)
{
	switch (kind) {
	case SID_GUEST:
		*idle = cfg->guest_idle;
		*max = cfg->guest_max;
		break;
	case SID_REMEMBERED:
		*idle = cfg->remember_idle;
		*max = cfg->remember_max;
		break;
	default:
		*idle = cfg->session_idle;
		*max = cfg->session_max;
		break;
	}
}

static int64_t
idle_ms(const struct config *cfg, int kind)
{
	int64_t	 idle, max;

	session_lifetimes(cfg, kind, &idle, &max);
	return idle * 1000;
}

/*
 * The TTL a write sets: the idle window, cut short by the absolute end so a
 * record never outlives its maximum lifetime even if nobody reads it again.
 */
int64_t
session_ttl_ms(const struct config *cfg, const Shoal__Session *s)
{
	int64_t	 left = (s->expires - session_now()) * 1000;
	int64_t	 idle = idle_ms(cfg, s->kind);

	if (left < 1)
		left = 1;
	return left < idle ? left : idle;
}

void
session_become_anonymous(struct shoal_req *r)
{
	r->state = SESSION_NONE;
	r->session = NULL;
	r->data = NULL;
	r->raw.data = NULL;
	r->raw.len = 0;
	r->clear_cookie = 1;
}

/* Ends a record that must not be used again; the caller goes anonymous. */
static void
discard(struct shoal_req *r, const char *why)
{
	struct redis_batch	 b;

	log_event("warn", "session record %s: deleted", why);
	redis_batch_init(&b, &r->t->arena, 1);
	redis_del(&b, &r->key);
	if (redis_run(r->t->redis, &b) != 0)
		(void)redis_status(r->t->redis, "session delete");
	session_become_anonymous(r);
}

/* The Redis key of this request's session ID. */
int
session_set_key(struct shoal_req *r)
{
	char	 hash[SID_HASH_LEN + 1];

	if (sid_hash(&r->sid, hash, sizeof hash) != 0)
		return -1;
	key_session(&r->key, r->t->cfg->key_prefix, hash);
	return 0;
}

/* The app's message in a record; NULL (logged) when it does not decode. */
ProtobufCMessage *
session_record_data(struct shoal_req *r, const Shoal__Session *s)
{
	ProtobufCMessage	*m;

	m = appdata_decode(&r->t->arena, r->t->app->data, &s->app);
	if (m == NULL)
		log_event("warn", "session record: its %s data does not decode",
		    r->t->app->name);
	return m;
}

/*
 * Sliding the idle window. A load is one plain GET: it does not read or
 * move the TTL. Every write sets the TTL to the idle window and stamps the
 * record with the time (ttl_set_ms), so the record itself says how much of
 * the window is left. Once a step of it has passed (a tenth of the window,
 * at most a minute), the request writes the record back as it is, with a
 * new stamp, by compare-and-set: a busy session costs one write a minute,
 * not a command per request, and a load stays the cheapest command Redis
 * has. A write in between set the TTL itself and is kept; a record that is
 * gone stays gone.
 */
static int
slide_due(const struct config *cfg, const Shoal__Session *s)
{
	int64_t	 idle = idle_ms(cfg, s->kind);
	int64_t	 step = idle / 10 < 60000 ? idle / 10 : 60000;

	return session_now_ms() - s->ttl_set_ms >= step;
}

static void
slide_idle_window(struct shoal_req *r)
{
	struct arena		*a = &r->t->arena;
	struct redis_batch	 b;
	const struct redis_value *v;
	Shoal__Session		*copy;
	unsigned char		*bytes;
	size_t			 len, i;

	if ((copy = record_session_decode(a, r->raw.data, r->raw.len)) == NULL)
		return;
	copy->version++;
	bytes = session_encode_to_write(a, copy, &len);
	redis_batch_init(&b, a, 0);
	i = script_session_cas(&b, &r->key, r->raw.data, r->raw.len, bytes,
	    len, session_ttl_ms(r->t->cfg, copy));
	/* Not written: the page is served all the same, and the next request
	 * slides the window (the connection logged why). */
	if (redis_run(r->t->redis, &b) != 0)
		return;
	v = &b.reply[i];
	if (v->type == REDIS_VALUE_INT && v->integer == 1) {
		r->session = copy;
		r->raw.data = bytes;
		r->raw.len = len;
	} else if (v->type == REDIS_VALUE_INT && v->integer == 0)
		/* Logged out meanwhile. */
		session_become_anonymous(r);
	else if (v->type == REDIS_VALUE_STRING &&
	    (copy = record_session_decode(a, v->str, v->len)) != NULL) {
		/* Someone wrote first, which set the TTL: carry on with it. */
		r->session = copy;
		r->raw.data = (unsigned char *)v->str;
		r->raw.len = v->len;
	}
}

/* What a load's reply, or a record loaded ahead, makes of the request. */
static enum shoal_status
take_record(struct shoal_req *r, const struct redis_value *v)
{
	if (v->type == REDIS_VALUE_NIL) {
		/* Expired, logged out or revoked. */
		metrics_count(METRIC_SESSIONS_EXPIRED);
		session_become_anonymous(r);
		return SHOAL_OK;
	}
	if (v->type != REDIS_VALUE_STRING)
		return redis_bad_reply(r->t->redis, "session load",
		    "not a record");
	r->raw.data = (unsigned char *)v->str;
	r->raw.len = v->len;
	r->session = record_session_decode(&r->t->arena, r->raw.data,
	    r->raw.len);
	if (r->session == NULL) {
		discard(r, "does not decode");
		return SHOAL_OK;
	}
	if ((int)r->session->kind != r->sid.kind) {
		discard(r, "is not of its cookie's kind");
		return SHOAL_OK;
	}
	/* A user's session from before accounts moved to PostgreSQL names
	 * no account: its user signs in again (docs/data.md, Accounts). */
	if (r->sid.kind != SID_GUEST && r->session->account_id == 0) {
		discard(r, "names no account (written before accounts moved "
		    "to the database)");
		return SHOAL_OK;
	}
	if (r->session->expires <= session_now()) {
		metrics_count(METRIC_SESSIONS_EXPIRED);
		discard(r, "past its absolute lifetime");
		return SHOAL_OK;
	}
	r->state = r->sid.kind == SID_GUEST ? SESSION_GUEST : SESSION_LIVE;
	return SHOAL_OK;
}

/* ----- Sessions loaded ahead for the requests waiting behind this one. */

#define PREFETCH_MAX	(REDIS_EACH_MAX - 1)

struct prefetched {
	int			 slot;		/* its ready connection */
	const struct keyring	*keys;		/* that verified its cookie */
	char			 cookie[SID_COOKIE_MAX];
	size_t			 cookie_len;
	struct sid		 sid;
	int			 nil;		/* no record */
	size_t			 off, len;	/* the record, in store */
};

struct session_prefetch {
	struct prefetched	 e[PREFETCH_MAX];
	size_t			 n;
	int			 next_slot;	/* after the last loaded */
	struct buf		 store;
};

struct session_prefetch *
session_prefetch_new(void)
{
	struct session_prefetch	*p = xcalloc(1, sizeof *p);

	buf_init(&p->store);
	return p;
}

void
session_prefetch_free(struct session_prefetch *p)
{
	if (p == NULL)
		return;
	buf_free(&p->store);
	free(p);
}

void
session_prefetch_forget(struct session_prefetch *p)
{
	if (p == NULL)
		return;
	p->n = 0;
	p->next_slot = 0;
	buf_reset(&p->store);
}

static struct prefetched *
prefetched_for(struct session_prefetch *p, int slot)
{
	size_t	 i;

	for (i = 0; i < p->n; i++)
		if (p->e[i].slot == slot)
			return &p->e[i];
	return NULL;
}

/*
 * This request's record, if it was loaded ahead: for its connection, for
 * the same cookie, verified with the keyring it uses. Taken once.
 */
static int
take_prefetched(struct shoal_req *r, const char *value, size_t vlen,
    struct redis_value *v)
{
	struct session_prefetch	*p = r->t->prefetch;
	struct prefetched	*e;

	if (p == NULL || r->t->slot < 0 ||
	    (e = prefetched_for(p, r->t->slot)) == NULL)
		return 0;
	e->slot = -1;
	if (e->keys != r->t->keys || e->cookie_len != vlen ||
	    memcmp(e->cookie, value, vlen) != 0)
		return 0;
	r->sid = e->sid;
	metrics_count(METRIC_SESSIONS_LOADED_AHEAD);
	memset(v, 0, sizeof *v);
	if (e->nil)
		v->type = REDIS_VALUE_NIL;
	else {
		v->type = REDIS_VALUE_STRING;
		v->str = arena_memdup(&r->t->arena, p->store.data + e->off,
		    e->len);
		v->len = e->len;
	}
	return 1;
}

/*
 * A batch loading the session of a waiting request, and its entry in e
 * (not yet counted in the prefetch). 0, or -1 when the request has no
 * session cookie we signed.
 */
static int
load_ahead(struct shoal_req *r, const struct ready_request *q,
    struct prefetched *e, struct redis_batch *b)
{
	const struct config	*cfg = r->t->cfg;
	struct redis_key	*key;
	const char		*value;
	char			 hash[SID_HASH_LEN + 1];
	size_t			 vlen;

	if (!http_cookie_get(q->cookie, strlen(q->cookie),
	    cfg->session_cookie, &value, &vlen) || vlen > sizeof e->cookie ||
	    sid_verify(&e->sid, r->t->keys, value, vlen) != 0 ||
	    sid_hash(&e->sid, hash, sizeof hash) != 0)
		return -1;
	e->slot = q->slot;
	e->keys = r->t->keys;
	memcpy(e->cookie, value, vlen);
	e->cookie_len = vlen;
	/* The batch points at its key until it is sent: not on this stack. */
	key = arena_alloc(&r->t->arena, sizeof *key);
	key_session(key, cfg->key_prefix, hash);
	redis_batch_init(b, &r->t->arena, 1);
	(void)redis_get(b, key);
	return 0;
}

/* Keeps what came for the waiting requests (b[1..n-1], entries e). */
static void
keep_ahead(struct session_prefetch *p, struct prefetched *e,
    struct redis_batch **b, const int *rc, size_t n)
{
	const struct redis_value *v;
	size_t			 i, k;

	/* Make room: entries already taken go (their records stay in the
	 * store, which is emptied with the ready list). */
	for (i = 0, k = 0; i < p->n; i++)
		if (p->e[i].slot >= 0)
			p->e[k++] = p->e[i];
	p->n = k;
	for (i = 1; i < n; i++) {
		v = &b[i]->reply[0];
		if (rc[i] != 0 || (v->type != REDIS_VALUE_NIL &&
		    v->type != REDIS_VALUE_STRING) || p->n == PREFETCH_MAX)
			continue;
		e[i - 1].nil = v->type == REDIS_VALUE_NIL;
		e[i - 1].off = p->store.len;
		e[i - 1].len = e[i - 1].nil ? 0 : v->len;
		if (!e[i - 1].nil)
			buf_put(&p->store, v->str, v->len);
		p->e[p->n++] = e[i - 1];
		if (e[i - 1].slot >= p->next_slot)
			p->next_slot = e[i - 1].slot + 1;
	}
}

/*
 * Runs this request's load (own) with the loads of the requests waiting on
 * the thread's other ready connections, in one write. 0, or -1 when its own
 * failed (the fault in the connection).
 */
static int
load_with_waiting(struct shoal_req *r, struct redis_batch *own)
{
	struct thread_ctx	*t = r->t;
	struct ready_request	 q[PREFETCH_MAX];
	struct prefetched	 e[PREFETCH_MAX];
	struct redis_batch	 more[PREFETCH_MAX], *b[REDIS_EACH_MAX];
	int			 rc[REDIS_EACH_MAX];
	size_t			 nq = 0, n = 1, i;

	b[0] = own;
	/* The requests after those already loaded ahead. */
	if (t->waiting != NULL && t->prefetch != NULL &&
	    redis_runs_each(t->redis))
		nq = t->waiting(t, t->prefetch->next_slot, q, PREFETCH_MAX);
	for (i = 0; i < nq; i++) {
		if (prefetched_for(t->prefetch, q[i].slot) != NULL ||
		    load_ahead(r, &q[i], &e[n - 1], &more[n - 1]) != 0)
			continue;
		b[n] = &more[n - 1];
		n++;
	}
	if (n == 1)
		return redis_run(t->redis, own);
	(void)redis_run_each(t->redis, b, n, rc);
	keep_ahead(t->prefetch, e, b, rc, n);
	return rc[0] == 0 ? 0 : -1;
}

enum shoal_status
session_load(struct shoal_req *r)
{
	const struct config	*cfg = r->t->cfg;
	struct redis_batch	 b;
	struct redis_value	 ahead;
	const char		*value;
	enum shoal_status	 st;
	size_t			 vlen, i;

	r->state = SESSION_NONE;
	if (r->in.cookie == NULL ||
	    !http_cookie_get(r->in.cookie, strlen(r->in.cookie),
	    cfg->session_cookie, &value, &vlen))
		return SHOAL_OK;
	if (take_prefetched(r, value, vlen, &ahead)) {
		if (session_set_key(r) != 0)
			return SHOAL_OK;
		st = take_record(r, &ahead);
	} else {
		/* A cookie we did not sign costs nothing: no Redis command. */
		if (sid_verify(&r->sid, r->t->keys, value, vlen) != 0) {
			r->clear_cookie = 1;
			return SHOAL_OK;
		}
		if (session_set_key(r) != 0)
			return SHOAL_OK;
		redis_batch_init(&b, &r->t->arena, 1);
		i = redis_get(&b, &r->key);
		if (load_with_waiting(r, &b) != 0)
			return redis_status(r->t->redis, "session load");
		st = take_record(r, &b.reply[i]);
	}
	if (st == SHOAL_OK && r->state != SESSION_NONE &&
	    slide_due(cfg, r->session))
		slide_idle_window(r);
	return st;
}

const void *
shoal_data(struct shoal_req *r)
{
	if (r->data != NULL)
		return r->data;
	if (r->state != SESSION_NONE)
		r->data = session_record_data(r, r->session);
	/* Undecodable data reads as none; a change would replace it. */
	if (r->data == NULL)
		r->data = appdata_empty(&r->t->arena, r->t->app->data);
	return r->data;
}

int64_t
shoal_expires_in(const struct shoal_req *r)
{
	int64_t	 left, idle;

	if (r->state == SESSION_NONE)
		return 0;
	idle = idle_ms(r->t->cfg, r->session->kind) / 1000;
	left = r->session->expires - session_now();
	return left < idle ? left : idle;
}

/*
 * A cookie signed by a key that is no longer the signing key (a rotation
 * added a new one in front) is signed again with the new key when the
 * session is next written, so old keys can be dropped after a while. The ID,
 * and so the record, stays the same.
 */
static void
resign_if_rotated(struct shoal_req *r)
{
	uint8_t	 signer = keyring_signer(r->t->keys)->id;

	if (r->sid.kid != signer) {
		r->sid.kid = signer;
		r->new_cookie = 1;
		if (r->state == SESSION_LIVE)
			r->csrf = NULL;
	}
}

/*
 * After the second conflict in a row, wait a random moment (up to 50 us
 * doubling per attempt, at most 12.8 ms) before trying again, so writers
 * of one hot session stop colliding in lockstep. Nobody waits on anybody:
 * this only spreads the attempts out.
 */
void
session_backoff(int attempt)
{
	uint32_t	 cap;

	if (attempt < 1)
		return;
	cap = 50u << (attempt < 8 ? attempt : 8);
	usleep(randombytes_uniform(cap));
}

/* A guest's record may not grow past SHOAL_GUEST_MAX_BYTES. */
static int
too_large(const struct shoal_req *r, const Shoal__Session *s, size_t len)
{
	if (s->kind != SHOAL__KIND__GUEST ||
	    len <= (size_t)r->t->cfg->guest_max_bytes)
		return 0;
	log_event("info", "guest session change refused: %zu bytes, over "
	    "SHOAL_GUEST_MAX_BYTES", len);
	return 1;
}

/*
 * A visitor without a session changed something: the change becomes a
 * guest session. One round trip: the count against the address's budget of
 * new guests, and the record (SET NX). Over the budget, the record is
 * deleted again and the visitor stays without one.
 */
static enum shoal_status
guest_create(struct shoal_req *r, shoal_change_fn fn, void *arg)
{
	const struct config	*cfg = r->t->cfg;
	struct arena		*a = &r->t->arena;
	ProtobufCMessage	*data = appdata_empty(a, r->t->app->data);
	Shoal__Session		*s;
	struct redis_batch	 b;
	unsigned char		*bytes;
	size_t			 len, take, set;
	int64_t			 now = session_now(), wait;

	switch (fn(r, data, arg)) {
	case SHOAL_UNCHANGED:
		r->data = data;
		return SHOAL_OK;
	case SHOAL_REJECTED:
		return SHOAL_REJECT;
	case SHOAL_CHANGED:
		break;
	}
	s = arena_alloc(a, sizeof *s);
	shoal__session__init(s);
	s->schema = RECORD_SCHEMA;
	s->version = 1;
	s->user = "";
	s->kind = SHOAL__KIND__GUEST;
	s->created = now;
	s->expires = now + cfg->guest_max;
	s->app = appdata_encode(a, data);
	bytes = session_encode_to_write(a, s, &len);
	if (too_large(r, s, len))
		return SHOAL_TOO_LARGE;

	sid_new(&r->sid, r->t->keys, SID_GUEST);
	if (session_set_key(r) != 0)
		return SHOAL_INTERNAL;
	redis_batch_init(&b, a, 0);
	take = throttle_guest_take(&b, a, cfg, throttle_client(r));
	set = redis_set(&b, &r->key, bytes, len, REDIS_SET_IF_NEW,
	    session_ttl_ms(cfg, s));
	if (redis_run(r->t->redis, &b) != 0)
		return redis_status(r->t->redis, "guest session create");
	if (b.reply[take].type != REDIS_VALUE_INT)
		return redis_bad_reply(r->t->redis, "guest session create",
		    "budget_take did not return a number");
	if (b.reply[set].type != REDIS_VALUE_STRING)
		return redis_bad_reply(r->t->redis, "guest session create",
		    "new session ID already in use");
	if ((wait = throttle_wait(&b.reply[take])) > 0) {
		log_event("warn", "guest session refused: too many new guests "
		    "from one address");
		redis_batch_init(&b, a, 1);
		redis_del(&b, &r->key);
		if (redis_run(r->t->redis, &b) != 0)
			return redis_status(r->t->redis, "guest session create");
		r->retry_after = wait;
		return SHOAL_THROTTLED;
	}
	metrics_count(METRIC_GUESTS_CREATED);
	r->state = SESSION_GUEST;
	r->session = s;
	r->data = data;
	r->raw.data = bytes;
	r->raw.len = len;
	r->new_cookie = 1;
	r->clear_cookie = 0;
	return SHOAL_OK;
}

/*
 * Applies fn to a fresh copy of the record and writes it back with
 * compare-and-set. When another request wrote first, the script hands back
 * the record it wrote, and fn runs again on that: no lock, no lost update,
 * and at most one round trip per attempt.
 */
/*
 * fn may be NULL (no change to the app's data); lsn, when past the
 * record's write_lsn, is recorded too (read-your-writes).
 */
static enum shoal_status
change_alone(struct shoal_req *r, shoal_change_fn fn, void *arg, uint64_t lsn)
{
	struct arena		*a = &r->t->arena;
	struct record_bytes	 seen = r->raw;
	struct redis_batch	 b;
	const struct redis_value *v;
	Shoal__Session		*copy;
	ProtobufCMessage	*data;
	unsigned char		*bytes;
	size_t			 len, i;
	int			 attempt;
	enum shoal_change_result res;

	for (attempt = 0; attempt < SESSION_CAS_RETRIES; attempt++) {
		copy = record_session_decode(a, seen.data, seen.len);
		if (copy == NULL) {
			discard(r, "does not decode");
			return SHOAL_ANONYMOUS;
		}
		/* Data that does not decode is started afresh. */
		if ((data = session_record_data(r, copy)) == NULL)
			data = appdata_empty(a, r->t->app->data);
		res = fn != NULL ? fn(r, data, arg) : SHOAL_UNCHANGED;
		if (res != SHOAL_REJECTED && lsn > copy->write_lsn) {
			copy->write_lsn = lsn;
			copy->write_at_ms = session_now_ms();
			res = SHOAL_CHANGED;
		}
		switch (res) {
		case SHOAL_UNCHANGED:
			r->session = copy;
			r->raw = seen;
			r->data = data;
			return SHOAL_OK;
		case SHOAL_REJECTED:
			return SHOAL_REJECT;
		case SHOAL_CHANGED:
			break;
		}
		copy->version++;
		copy->app = appdata_encode(a, data);
		bytes = session_encode_to_write(a, copy, &len);
		if (too_large(r, copy, len))
			return SHOAL_TOO_LARGE;
		redis_batch_init(&b, a, 0);
		i = script_session_cas(&b, &r->key, seen.data, seen.len, bytes,
		    len, session_ttl_ms(r->t->cfg, copy));
		if (redis_run(r->t->redis, &b) != 0)
			return redis_status(r->t->redis, "session change");
		v = &b.reply[i];
		if (v->type == REDIS_VALUE_STRING) {
			/* Someone wrote first: this is what they wrote. */
			seen.data = (unsigned char *)v->str;
			seen.len = v->len;
			metrics_count(METRIC_CAS_CONFLICTS);
			session_backoff(attempt);
			continue;
		}
		if (v->type != REDIS_VALUE_INT || (v->integer != 0 &&
		    v->integer != 1))
			return redis_bad_reply(r->t->redis, "session change",
			    "not 0, 1 or a record");
		if (v->integer == 0) {
			/* Logged out meanwhile: the change must not revive it. */
			session_become_anonymous(r);
			return SHOAL_ANONYMOUS;
		}
		r->session = copy;
		r->data = data;
		r->raw.data = bytes;
		r->raw.len = len;
		resign_if_rotated(r);
		return SHOAL_OK;
	}
	log_event("warn", "session change gave up after %d conflicts",
	    SESSION_CAS_RETRIES);
	metrics_count(METRIC_CAS_GIVE_UPS);
	return SHOAL_CONFLICT;
}

/*
 * The leader's write of a batch of changes to one session (combine.h):
 * every op's fn, in order, on one fresh copy of the record, then one
 * compare-and-set; on a conflict all again on what the other writer
 * wrote. An op whose fn rejects is left out and the others start over
 * (its fn may have edited the copy before it said no). Every op gets the
 * outcome, and on success the record as written, copied into its own
 * request's memory.
 */
static void
change_together(struct shoal_req *r, struct combine_op *batch)
{
	struct arena		*a = &r->t->arena;
	struct record_bytes	 seen = r->raw, out;
	struct redis_batch	 b;
	const struct redis_value *v;
	struct combine_op	*op;
	Shoal__Session		*copy;
	ProtobufCMessage	*data;
	unsigned char		*mem;
	size_t			 i;
	int			 attempt = 0, changed, rejected, written = 0;
	enum shoal_change_result res;
	enum shoal_status	 st;

	while (attempt < SESSION_CAS_RETRIES) {
		if ((copy = record_session_decode(a, seen.data,
		    seen.len)) == NULL) {
			discard(r, "does not decode");
			st = SHOAL_ANONYMOUS;
			goto out;
		}
		if ((data = session_record_data(r, copy)) == NULL)
			data = appdata_empty(a, r->t->app->data);
		changed = rejected = 0;
		for (op = batch; op != NULL && !rejected; op = op->next) {
			if (op->rejected)
				continue;
			res = op->fn(op->r, data, op->arg);
			op->rejected = rejected = res == SHOAL_REJECTED;
			changed |= res == SHOAL_CHANGED;
		}
		if (rejected)
			continue;	/* at most once per op */
		if (!changed) {
			out = seen;
			st = SHOAL_OK;
			goto out;
		}
		copy->version++;
		copy->app = appdata_encode(a, data);
		out.data = session_encode_to_write(a, copy, &out.len);
		if (too_large(r, copy, out.len)) {
			/* Together too large: each on its own, which fits
			 * what fits. */
			for (op = batch; op != NULL; op = op->next)
				op->alone = !op->rejected;
			return;
		}
		redis_batch_init(&b, a, 0);
		i = script_session_cas(&b, &r->key, seen.data, seen.len,
		    out.data, out.len, session_ttl_ms(r->t->cfg, copy));
		if (redis_run(r->t->redis, &b) != 0) {
			st = redis_status(r->t->redis, "session change");
			goto out;
		}
		v = &b.reply[i];
		if (v->type == REDIS_VALUE_STRING) {
			seen.data = (unsigned char *)v->str;
			seen.len = v->len;
			metrics_count(METRIC_CAS_CONFLICTS);
			session_backoff(attempt++);
			continue;
		}
		if (v->type != REDIS_VALUE_INT || (v->integer != 0 &&
		    v->integer != 1)) {
			st = redis_bad_reply(r->t->redis, "session change",
			    "not 0, 1 or a record");
			goto out;
		}
		st = v->integer == 1 ? SHOAL_OK : SHOAL_ANONYMOUS;
		written = v->integer == 1;
		goto out;
	}
	log_event("warn", "session change gave up after %d conflicts",
	    SESSION_CAS_RETRIES);
	metrics_count(METRIC_CAS_GIVE_UPS);
	st = SHOAL_CONFLICT;
out:
	for (op = batch; op != NULL; op = op->next) {
		op->status = st;
		op->written = written;
		if (st != SHOAL_OK || op->rejected)
			continue;
		mem = arena_alloc(&op->r->t->arena, out.len ? out.len : 1);
		memcpy(mem, out.data, out.len);
		op->bytes = mem;
		op->len = out.len;
	}
}

/* What an op of a batch makes of the outcome, on its own thread. */
static enum shoal_status
take_result(struct combine_op *op)
{
	struct shoal_req	*r = op->r;
	struct arena		*a = &r->t->arena;
	Shoal__Session		*copy;
	ProtobufCMessage	*data;

	if (op->alone)
		return change_alone(r, op->fn, op->arg, 0);
	if (op->rejected)
		return SHOAL_REJECT;
	if (op->status == SHOAL_ANONYMOUS) {
		/* Logged out meanwhile, or the record did not decode. */
		session_become_anonymous(r);
		return SHOAL_ANONYMOUS;
	}
	if (op->status != SHOAL_OK)
		return op->status;
	if ((copy = record_session_decode(a, op->bytes, op->len)) == NULL)
		return SHOAL_INTERNAL;
	if ((data = session_record_data(r, copy)) == NULL)
		data = appdata_empty(a, r->t->app->data);
	r->session = copy;
	r->data = data;
	r->raw.data = op->bytes;
	r->raw.len = op->len;
	if (op->written)
		resign_if_rotated(r);
	return SHOAL_OK;
}

/*
 * A change to the app's data: with sibling threads, handed to the one
 * already changing this session, or leading the changes the others hand
 * over meanwhile (combine.h); alone otherwise, and for a change of the
 * record's own fields (lsn).
 */
static enum shoal_status
change(struct shoal_req *r, shoal_change_fn fn, void *arg, uint64_t lsn)
{
	struct combine_op	 op;
	struct combine_op	*batch;

	if (r->state == SESSION_NONE)
		return fn == NULL ? SHOAL_OK : guest_create(r, fn, arg);
	if (fn == NULL || lsn != 0 || r->t->cfg->threads < 2)
		return change_alone(r, fn, arg, lsn);
	memset(&op, 0, sizeof op);
	op.r = r;
	op.fn = fn;
	op.arg = arg;
	switch (combine_join(r->key.s, &op)) {
	case COMBINE_ALONE:
		return change_alone(r, fn, arg, 0);
	case COMBINE_LEAD:
		batch = combine_take(&op);
		change_together(r, batch);
		combine_finish(&op, batch);
		break;
	case COMBINE_DONE:
		break;
	}
	return take_result(&op);
}

enum shoal_status
shoal_session_change(struct shoal_req *r, shoal_change_fn fn, void *arg)
{
	return change(r, fn, arg, 0);
}

enum shoal_status
session_note_write(struct shoal_req *r, uint64_t lsn)
{
	return change(r, NULL, NULL, lsn);
}

/* Deletes this request's session record and its entry in the user's list. */
enum shoal_status
session_end_this(struct shoal_req *r)
{
	char	 hash[SID_HASH_LEN + 1];

	if (sid_hash(&r->sid, hash, sizeof hash) != 0)
		return SHOAL_INTERNAL;
	return index_remove(r->t->redis, &r->t->arena, r->t->cfg,
	    r->session->user, hash);
}

enum shoal_status
shoal_logout(struct shoal_req *r)
{
	struct redis_batch	 b;
	enum shoal_status	 st;

	if (r->state == SESSION_LIVE && (st = session_end_this(r)) != SHOAL_OK)
		return st;
	if (r->state == SESSION_GUEST) {
		redis_batch_init(&b, &r->t->arena, 1);
		redis_del(&b, &r->key);
		if (redis_run(r->t->redis, &b) != 0)
			return redis_status(r->t->redis, "session end");
	}
	metrics_add(METRIC_SESSIONS_ENDED, r->state == SESSION_LIVE);
	session_become_anonymous(r);
	r->csrf = NULL;
	return SHOAL_OK;
}
