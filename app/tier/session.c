/*
 * session.c - loading, changing, creating and ending sessions (see
 * session.h and the session calls in shoal.h).
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "appdata.h"
#include "config.h"
#include "index.h"
#include "keyring.h"
#include "keys.h"
#include "log.h"
#include "record.h"
#include "redis.h"
#include "request.h"
#include "scripts.h"
#include "session.h"
#include "throttle.h"
#include "users.h"

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

/* The idle window and the absolute lifetime of a kind of session (s). */
static void
lifetimes(const struct config *cfg, int kind, int64_t *idle, int64_t *max)
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

	lifetimes(cfg, kind, &idle, &max);
	return idle * 1000;
}

/*
 * The TTL a write sets: the idle window, cut short by the absolute end so a
 * record never outlives its maximum lifetime even if nobody reads it again.
 */
static int64_t
write_ttl_ms(const struct config *cfg, const Shoal__Session *s)
{
	int64_t	 left = (s->expires - now_s()) * 1000;
	int64_t	 idle = idle_ms(cfg, s->kind);

	if (left < 1)
		left = 1;
	return left < idle ? left : idle;
}

static void
become_anonymous(struct shoal_req *r)
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
	become_anonymous(r);
}

/* The Redis key of this request's session ID. */
static int
set_key(struct shoal_req *r)
{
	char	 hash[SID_HASH_LEN + 1];

	if (sid_hash(&r->sid, hash, sizeof hash) != 0)
		return -1;
	key_session(&r->key, r->t->cfg->key_prefix, hash);
	return 0;
}

/* The app's message in a record; NULL (logged) when it does not decode. */
static ProtobufCMessage *
record_data(struct shoal_req *r, const Shoal__Session *s)
{
	ProtobufCMessage	*m;

	m = appdata_decode(&r->t->arena, r->t->app->data, &s->app);
	if (m == NULL)
		log_event("warn", "session record: its %s data does not decode",
		    r->t->app->name);
	return m;
}

enum shoal_status
session_load(struct shoal_req *r)
{
	const struct config	*cfg = r->t->cfg;
	struct redis_batch	 b;
	const struct redis_value *v;
	const char		*value;
	size_t			 vlen, i;
	int64_t			 idle, step;

	r->state = SESSION_NONE;
	if (r->in.cookie == NULL ||
	    !http_cookie_get(r->in.cookie, strlen(r->in.cookie),
	    cfg->session_cookie, &value, &vlen))
		return SHOAL_OK;
	/* A cookie we did not sign costs nothing: no Redis command. */
	if (sid_verify(&r->sid, r->t->keys, value, vlen) != 0) {
		r->clear_cookie = 1;
		return SHOAL_OK;
	}
	if (set_key(r) != 0)
		return SHOAL_OK;
	/* Slide the TTL at most every tenth of the window (or minute), so a
	 * busy session costs one write a minute, not one per request. The
	 * cookie says which window applies, before the record is read. */
	idle = idle_ms(cfg, r->sid.kind);
	step = idle / 10 < 60000 ? idle / 10 : 60000;
	redis_batch_init(&b, &r->t->arena, 1);
	i = script_session_load(&b, &r->key, idle - step, idle);
	if (redis_run(r->t->redis, &b) != 0)
		return redis_status(r->t->redis, "session load");
	v = &b.reply[i];
	if (v->type == REDIS_VALUE_NIL) {
		/* Expired, logged out or revoked. */
		become_anonymous(r);
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
	if (r->session->expires <= now_s()) {
		discard(r, "past its absolute lifetime");
		return SHOAL_OK;
	}
	r->state = r->sid.kind == SID_GUEST ? SESSION_GUEST : SESSION_LIVE;
	return SHOAL_OK;
}

const void *
shoal_data(struct shoal_req *r)
{
	if (r->data != NULL)
		return r->data;
	if (r->state != SESSION_NONE)
		r->data = record_data(r, r->session);
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
	left = r->session->expires - now_s();
	return left < idle ? left : idle;
}

int
shoal_remembered(const struct shoal_req *r)
{
	return r->state == SESSION_LIVE &&
	    r->session->kind == SHOAL__KIND__REMEMBERED;
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
static void
backoff_after_conflict(int attempt)
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
	int64_t			 now = now_s(), wait;

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
	bytes = record_session_encode(a, s, &len);
	if (too_large(r, s, len))
		return SHOAL_TOO_LARGE;

	sid_new(&r->sid, r->t->keys, SID_GUEST);
	if (set_key(r) != 0)
		return SHOAL_INTERNAL;
	redis_batch_init(&b, a, 0);
	take = throttle_guest_take(&b, a, cfg, throttle_client(r));
	set = redis_set(&b, &r->key, bytes, len, REDIS_SET_IF_NEW,
	    write_ttl_ms(cfg, s));
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
enum shoal_status
shoal_session_change(struct shoal_req *r, shoal_change_fn fn, void *arg)
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

	if (r->state == SESSION_NONE)
		return guest_create(r, fn, arg);
	for (attempt = 0; attempt < SESSION_CAS_RETRIES; attempt++) {
		copy = record_session_decode(a, seen.data, seen.len);
		if (copy == NULL) {
			discard(r, "does not decode");
			return SHOAL_ANONYMOUS;
		}
		/* Data that does not decode is started afresh. */
		if ((data = record_data(r, copy)) == NULL)
			data = appdata_empty(a, r->t->app->data);
		switch (fn(r, data, arg)) {
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
		bytes = record_session_encode(a, copy, &len);
		if (too_large(r, copy, len))
			return SHOAL_TOO_LARGE;
		redis_batch_init(&b, a, 0);
		i = script_session_cas(&b, &r->key, seen.data, seen.len, bytes,
		    len, write_ttl_ms(r->t->cfg, copy));
		if (redis_run(r->t->redis, &b) != 0)
			return redis_status(r->t->redis, "session change");
		v = &b.reply[i];
		if (v->type == REDIS_VALUE_STRING) {
			/* Someone wrote first: this is what they wrote. */
			seen.data = (unsigned char *)v->str;
			seen.len = v->len;
			backoff_after_conflict(attempt);
			continue;
		}
		if (v->type != REDIS_VALUE_INT || (v->integer != 0 &&
		    v->integer != 1))
			return redis_bad_reply(r->t->redis, "session change",
			    "not 0, 1 or a record");
		if (v->integer == 0) {
			/* Logged out meanwhile: the change must not revive it. */
			become_anonymous(r);
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
	return SHOAL_CONFLICT;
}

/* Deletes this request's session record and its entry in the user's list. */
static enum shoal_status
end_this_session(struct shoal_req *r)
{
	char	 hash[SID_HASH_LEN + 1];

	if (sid_hash(&r->sid, hash, sizeof hash) != 0)
		return SHOAL_INTERNAL;
	return index_remove(r->t->redis, &r->t->arena, r->t->cfg,
	    r->session->user, hash);
}

/* A guest whose data a sign-in takes over: its key and what was read. */
struct guest {
	struct redis_key	 key;
	struct record_bytes	 seen;
	const ProtobufCMessage	*data;
};

/* The new session's data: empty, with the guest's merged in (if any). */
static ProtobufCBinaryData
joined_data(struct shoal_req *r, const struct guest *g)
{
	struct arena		*a = &r->t->arena;
	ProtobufCMessage	*into = appdata_empty(a, r->t->app->data);

	if (g != NULL && g->data != NULL && r->t->app->merge != NULL)
		r->t->app->merge(r, into, g->data);
	return appdata_encode(a, into);
}

/* Writes the new session's record again, before anyone knows its ID. */
static enum shoal_status
rewrite(struct shoal_req *r, Shoal__Session *s, unsigned char **bytes,
    size_t *len)
{
	struct redis_batch	 b;

	*bytes = record_session_encode(&r->t->arena, s, len);
	redis_batch_init(&b, &r->t->arena, 1);
	redis_set(&b, &r->key, *bytes, *len, REDIS_SET_ALWAYS,
	    write_ttl_ms(r->t->cfg, s));
	if (redis_run(r->t->redis, &b) != 0)
		return redis_status(r->t->redis, "session create");
	return SHOAL_OK;
}

/*
 * The new session (already written, its ID not yet sent to anyone) holds
 * the guest's data as read. Ends the guest if it is still as read; if it
 * changed meanwhile, merges again and retries; if it is gone (another tab's
 * sign-in took it over first), the new session drops the data. So the data
 * joins exactly one session, and a crash at any point leaves it in the
 * guest or in a session, never nowhere.
 */
static enum shoal_status
claim_guest(struct shoal_req *r, struct guest *g, Shoal__Session *s,
    unsigned char **bytes, size_t *len)
{
	struct arena		*a = &r->t->arena;
	struct redis_batch	 b;
	const struct redis_value *v;
	Shoal__Session		*now;
	enum shoal_status	 st;
	size_t			 i;
	int			 attempt;

	for (attempt = 0; attempt < SESSION_CAS_RETRIES; attempt++) {
		redis_batch_init(&b, a, 0);
		i = script_guest_claim(&b, &g->key, g->seen.data, g->seen.len);
		if (redis_run(r->t->redis, &b) != 0)
			return redis_status(r->t->redis, "guest claim");
		v = &b.reply[i];
		if (v->type == REDIS_VALUE_INT && v->integer == 1)
			return SHOAL_OK;
		if (v->type == REDIS_VALUE_INT && v->integer == 0) {
			g->data = NULL;
			s->app = joined_data(r, NULL);
			return rewrite(r, s, bytes, len);
		}
		if (v->type != REDIS_VALUE_STRING)
			return redis_bad_reply(r->t->redis, "guest claim",
			    "not 0, 1 or a record");
		g->seen.data = (unsigned char *)v->str;
		g->seen.len = v->len;
		now = record_session_decode(a, g->seen.data, g->seen.len);
		g->data = now != NULL ? record_data(r, now) : NULL;
		s->app = joined_data(r, g);
		if ((st = rewrite(r, s, bytes, len)) != SHOAL_OK)
			return st;
		backoff_after_conflict(attempt);
	}
	log_event("warn", "guest claim gave up after %d changes: the guest "
	    "keeps its data", SESSION_CAS_RETRIES);
	s->app = joined_data(r, NULL);
	return rewrite(r, s, bytes, len);
}

/*
 * Starts a new session of a kind for name under a new ID; ends the one we
 * had, and takes over a guest's data. The session is for the credential
 * generation the password was checked against: if the password changed
 * since, there is no session (SHOAL_BAD_PASSWORD). On failure the visitor
 * keeps the session they had.
 */
static enum shoal_status
start_session(struct shoal_req *r, const char *name, int64_t generation,
    enum sid_kind kind)
{
	const struct config	*cfg = r->t->cfg;
	struct arena		*a = &r->t->arena;
	struct guest		 guest, *g = NULL;
	struct sid		 old_sid = r->sid;
	struct redis_key	 old_key = r->key;
	Shoal__Session		*s;
	unsigned char		*bytes;
	size_t			 len;
	int64_t			 now = now_s(), idle, max;
	enum shoal_status	 st;

	if (r->state == SESSION_GUEST) {
		g = &guest;
		g->key = r->key;
		g->seen = r->raw;
		g->data = shoal_data(r);
	}
	lifetimes(cfg, kind, &idle, &max);
	s = arena_alloc(a, sizeof *s);
	shoal__session__init(s);
	s->schema = RECORD_SCHEMA;
	s->version = 1;
	s->user = arena_strdup(a, name);
	s->kind = kind == SID_REMEMBERED ? SHOAL__KIND__REMEMBERED :
	    SHOAL__KIND__USER;
	s->created = now;
	s->expires = now + max;
	s->app = joined_data(r, g);
	bytes = record_session_encode(a, s, &len);

	sid_new(&r->sid, r->t->keys, kind);
	if (set_key(r) != 0)
		st = SHOAL_INTERNAL;
	else
		st = index_create(r->t->redis, a, cfg, name, &r->sid, bytes,
		    len, write_ttl_ms(cfg, s), s->expires,
		    shoal_header(r, "HTTP_USER_AGENT"),
		    kind == SID_REMEMBERED, generation);
	if (st == SHOAL_OK && g != NULL)
		st = claim_guest(r, g, s, &bytes, &len);
	if (st != SHOAL_OK) {
		r->sid = old_sid;
		r->key = old_key;
		return st;
	}
	/* The session signed in from ends only now that the new one exists. */
	if (r->state == SESSION_LIVE) {
		struct sid	 fresh = r->sid;
		struct redis_key fresh_key = r->key;

		r->sid = old_sid;
		r->key = old_key;
		st = end_this_session(r);
		r->sid = fresh;
		r->key = fresh_key;
		if (st != SHOAL_OK)
			log_event("warn", "the session signed in from stays "
			    "until it expires");
	}
	r->state = SESSION_LIVE;
	r->session = s;
	r->data = NULL;
	r->raw.data = bytes;
	r->raw.len = len;
	r->new_cookie = 1;
	r->clear_cookie = 0;
	r->csrf = NULL;		/* the token follows the new ID */
	return SHOAL_OK;
}

static enum sid_kind
kind_of(unsigned flags)
{
	return (flags & SHOAL_REMEMBER) ? SID_REMEMBERED : SID_USER;
}

enum shoal_status
shoal_signup(struct shoal_req *r, const char *name, const char *password,
    unsigned flags)
{
	enum shoal_status	 rc;

	/* The budget first: whether a name is taken costs an attempt. */
	rc = throttle_signup(r->t->redis, &r->t->arena, r->t->cfg,
	    throttle_client(r), &r->retry_after);
	if (rc != SHOAL_OK)
		return rc;
	rc = user_create(r->t->redis, &r->t->arena, r->t->cfg->key_prefix,
	    name, password);
	if (rc != SHOAL_OK)
		return rc;
	return start_session(r, name, 0, kind_of(flags));
}

enum shoal_status
shoal_login(struct shoal_req *r, const char *name, const char *password,
    unsigned flags)
{
	const struct config	*cfg = r->t->cfg;
	struct arena		*a = &r->t->arena;
	const char		*addr = throttle_client(r);
	enum shoal_status	 rc;
	int64_t			 generation;

	if (!user_name_valid(name))
		return SHOAL_BAD_PASSWORD;
	rc = throttle_login_begin(r->t->redis, a, cfg, name, addr,
	    &r->retry_after);
	if (rc != SHOAL_OK)
		return rc;
	rc = user_verify(r->t->redis, a, cfg->key_prefix, name, password,
	    &generation);
	if (rc != SHOAL_OK)
		return rc;
	throttle_login_ok(r->t->redis, a, cfg, name, addr);
	return start_session(r, name, generation, kind_of(flags));
}

enum shoal_status
shoal_logout(struct shoal_req *r)
{
	struct redis_batch	 b;
	enum shoal_status	 st;

	if (r->state == SESSION_LIVE && (st = end_this_session(r)) != SHOAL_OK)
		return st;
	if (r->state == SESSION_GUEST) {
		redis_batch_init(&b, &r->t->arena, 1);
		redis_del(&b, &r->key);
		if (redis_run(r->t->redis, &b) != 0)
			return redis_status(r->t->redis, "session end");
	}
	become_anonymous(r);
	r->csrf = NULL;
	return SHOAL_OK;
}

enum shoal_status
shoal_sessions(struct shoal_req *r, struct shoal_session_info **list,
    size_t *n)
{
	char			 hash[SID_HASH_LEN + 1];
	enum shoal_status	 st;
	size_t			 i;

	*list = NULL;
	*n = 0;
	if (r->state != SESSION_LIVE)
		return SHOAL_ANONYMOUS;
	st = index_list(r->t->redis, &r->t->arena, r->t->cfg,
	    r->session->user, list, n);
	if (st != SHOAL_OK || sid_hash(&r->sid, hash, sizeof hash) != 0)
		return st;
	for (i = 0; i < *n; i++)
		(*list)[i].current = strcmp((*list)[i].id, hash) == 0;
	return SHOAL_OK;
}

enum shoal_status
shoal_revoke(struct shoal_req *r, const char *id)
{
	enum shoal_status	 st;
	size_t			 ended;

	if (r->state != SESSION_LIVE)
		return SHOAL_ANONYMOUS;
	st = index_revoke(r->t->redis, &r->t->arena, r->t->cfg,
	    r->session->user, id, NULL, &ended);
	if (st != SHOAL_OK)
		return st;
	return ended == 1 ? SHOAL_OK : SHOAL_REJECT;
}

enum shoal_status
shoal_revoke_others(struct shoal_req *r, size_t *ended)
{
	char	 hash[SID_HASH_LEN + 1];

	*ended = 0;
	if (r->state != SESSION_LIVE)
		return SHOAL_ANONYMOUS;
	if (sid_hash(&r->sid, hash, sizeof hash) != 0)
		return SHOAL_INTERNAL;
	return index_revoke(r->t->redis, &r->t->arena, r->t->cfg,
	    r->session->user, NULL, hash, ended);
}

/*
 * The password changes and every session of the user ends but a new one
 * for this request: under a new ID (whoever copied the old cookie is out
 * too) and for the new credential generation, so a sign-in that checked
 * the old password and is still on its way cannot add a session after the
 * list was read (lua/password_set.lua, lua/index_add.lua).
 */
enum shoal_status
shoal_change_password(struct shoal_req *r, const char *current,
    const char *fresh)
{
	const struct config	*cfg = r->t->cfg;
	enum shoal_status	 st;
	const char		*user;
	int64_t			 generation;
	size_t			 ended;

	if (r->state != SESSION_LIVE)
		return SHOAL_ANONYMOUS;
	if (!user_password_valid(fresh))
		return SHOAL_REJECT;
	user = arena_strdup(&r->t->arena, r->session->user);
	st = user_verify(r->t->redis, &r->t->arena, cfg->key_prefix, user,
	    current, &generation);
	if (st != SHOAL_OK)
		return st;
	st = user_set_password(r->t->redis, &r->t->arena, cfg->key_prefix,
	    user, fresh, &generation);
	if (st != SHOAL_OK)
		return st;
	if ((st = start_session(r, user, generation,
	    r->session->kind == SHOAL__KIND__REMEMBERED ? SID_REMEMBERED :
	    SID_USER)) != SHOAL_OK)
		return st;
	return shoal_revoke_others(r, &ended);
}
