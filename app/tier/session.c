/*
 * session.c - loading, changing, creating and ending sessions (see
 * session.h and the session calls in shoal.h).
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

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

static int64_t
idle_ms(const struct config *cfg)
{
	return (int64_t)cfg->session_idle * 1000;
}

/*
 * The TTL a write sets: the idle window, cut short by the absolute end so a
 * record never outlives SHOAL_SESSION_MAX even if nobody reads it again.
 */
static int64_t
write_ttl_ms(const struct config *cfg, const Shoal__Session *s)
{
	int64_t	 left = (s->expires - now_s()) * 1000;
	int64_t	 idle = idle_ms(cfg);

	if (left < 1)
		left = 1;
	return left < idle ? left : idle;
}

static void
become_anonymous(struct shoal_req *r)
{
	r->state = SESSION_NONE;
	r->session = NULL;
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

enum shoal_status
session_load(struct shoal_req *r)
{
	const struct config	*cfg = r->t->cfg;
	struct redis_batch	 b;
	const struct redis_value *v;
	const char		*value;
	size_t			 vlen, i;
	int64_t			 idle = idle_ms(cfg);
	/* Slide the TTL at most every tenth of the window (or minute), so a
	 * busy session costs one write a minute, not one per request. */
	int64_t			 step = idle / 10 < 60000 ? idle / 10 : 60000;

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
	if (r->session->expires <= now_s()) {
		discard(r, "past its absolute lifetime");
		return SHOAL_OK;
	}
	r->state = SESSION_LIVE;
	return SHOAL_OK;
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
	unsigned char		*bytes;
	size_t			 len, i;
	int			 attempt;

	if (r->state != SESSION_LIVE)
		return SHOAL_ANONYMOUS;
	for (attempt = 0; attempt < SESSION_CAS_RETRIES; attempt++) {
		copy = record_session_decode(a, seen.data, seen.len);
		if (copy == NULL) {
			discard(r, "does not decode");
			return SHOAL_ANONYMOUS;
		}
		switch (fn(r, copy->app, arg)) {
		case SHOAL_UNCHANGED:
			r->session = copy;
			r->raw = seen;
			return SHOAL_OK;
		case SHOAL_REJECTED:
			return SHOAL_REJECT;
		case SHOAL_CHANGED:
			break;
		}
		copy->version++;
		bytes = record_session_encode(a, copy, &len);
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

/*
 * Starts a new session for name under a new ID; ends the one we had. The
 * session is for the credential generation the password was checked
 * against: if the password changed since, there is no session
 * (SHOAL_BAD_PASSWORD).
 */
static enum shoal_status
start_session(struct shoal_req *r, const char *name, int64_t generation)
{
	const struct config	*cfg = r->t->cfg;
	struct arena		*a = &r->t->arena;
	Shoal__Session		*s;
	Shoal__AppData		*app;
	unsigned char		*bytes;
	size_t			 len;
	int64_t			 now = now_s();
	enum shoal_status	 st;

	if (r->state == SESSION_LIVE && (st = end_this_session(r)) != SHOAL_OK)
		return st;
	s = arena_alloc(a, sizeof *s);
	shoal__session__init(s);
	app = arena_alloc(a, sizeof *app);
	shoal__app_data__init(app);
	s->schema = RECORD_SCHEMA;
	s->version = 1;
	s->user = arena_strdup(a, name);
	s->created = now;
	s->expires = now + cfg->session_max;
	s->app = app;
	bytes = record_session_encode(a, s, &len);

	sid_new(&r->sid, r->t->keys);
	if (set_key(r) != 0)
		return SHOAL_INTERNAL;
	if ((st = index_create(r->t->redis, a, cfg, name, &r->sid, bytes, len,
	    write_ttl_ms(cfg, s), s->expires,
	    shoal_header(r, "HTTP_USER_AGENT"), generation)) != SHOAL_OK) {
		if (r->state == SESSION_LIVE)
			become_anonymous(r);
		return st;
	}
	r->state = SESSION_LIVE;
	r->session = s;
	r->raw.data = bytes;
	r->raw.len = len;
	r->new_cookie = 1;
	r->clear_cookie = 0;
	r->csrf = NULL;		/* the token follows the new ID */
	return SHOAL_OK;
}

enum shoal_status
shoal_signup(struct shoal_req *r, const char *name, const char *password)
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
	return start_session(r, name, 0);
}

enum shoal_status
shoal_login(struct shoal_req *r, const char *name, const char *password)
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
	return start_session(r, name, generation);
}

enum shoal_status
shoal_logout(struct shoal_req *r)
{
	enum shoal_status	 st;

	if (r->state == SESSION_LIVE && (st = end_this_session(r)) != SHOAL_OK)
		return st;
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
	if ((st = start_session(r, user, generation)) != SHOAL_OK)
		return st;
	return shoal_revoke_others(r, &ended);
}
