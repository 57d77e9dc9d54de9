/*
 * session.c - loading, changing, creating and ending sessions (see
 * session.h and the session calls in shoal.h).
 */
#include <string.h>
#include <time.h>

#include "config.h"
#include "keyring.h"
#include "log.h"
#include "record.h"
#include "request.h"
#include "session.h"
#include "store.h"
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
	log_event("warn", "session record %s: deleted", why);
	if (store_del(r->t->store, r->key) != STORE_OK)
		log_event("warn", "could not delete session record");
	become_anonymous(r);
}

enum shoal_status
session_load(struct shoal_req *r)
{
	const struct config	*cfg = r->t->cfg;
	const char		*value;
	size_t			 vlen;
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
	if (sid_store_key(&r->sid, cfg->key_prefix, r->key, sizeof r->key) != 0)
		return SHOAL_OK;
	switch (store_session_load(r->t->store, &r->t->arena, r->key, idle,
	    idle - step, &r->raw)) {
	case STORE_OK:
		break;
	case STORE_MISSING:
		/* Expired, logged out or revoked. */
		become_anonymous(r);
		return SHOAL_OK;
	default:
		return SHOAL_UNAVAILABLE;
	}
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
 * Applies fn to a fresh copy of the record and writes it back with
 * compare-and-set. When another request wrote first, the script hands back
 * the record it wrote, and fn runs again on that: no lock, no lost update,
 * and at most one round trip per attempt.
 */
enum shoal_status
shoal_session_change(struct shoal_req *r, shoal_change_fn fn, void *arg)
{
	struct arena		*a = &r->t->arena;
	struct store_value	 seen = r->raw, now;
	Shoal__Session		*copy;
	unsigned char		*bytes;
	size_t			 len;
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
		switch (store_session_cas(r->t->store, a, r->key, &seen, bytes,
		    len, write_ttl_ms(r->t->cfg, copy), &now)) {
		case STORE_OK:
			r->session = copy;
			r->raw.data = bytes;
			r->raw.len = len;
			return SHOAL_OK;
		case STORE_CONFLICT:
			seen = now;
			continue;
		case STORE_MISSING:
			/* Logged out meanwhile: the change must not revive it. */
			become_anonymous(r);
			return SHOAL_ANONYMOUS;
		default:
			return SHOAL_UNAVAILABLE;
		}
	}
	log_event("warn", "session change gave up after %d conflicts",
	    SESSION_CAS_RETRIES);
	return SHOAL_CONFLICT;
}

/* Starts a new session for name under a new ID; ends the one we had. */
static enum shoal_status
start_session(struct shoal_req *r, const char *name)
{
	const struct config	*cfg = r->t->cfg;
	struct arena		*a = &r->t->arena;
	Shoal__Session		*s;
	Shoal__AppData		*app;
	unsigned char		*bytes;
	size_t			 len;
	int64_t			 now = now_s();

	if (r->state == SESSION_LIVE &&
	    store_del(r->t->store, r->key) != STORE_OK)
		return SHOAL_UNAVAILABLE;
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
	if (sid_store_key(&r->sid, cfg->key_prefix, r->key, sizeof r->key) != 0)
		return SHOAL_UNAVAILABLE;
	switch (store_session_create(r->t->store, r->key, bytes, len,
	    write_ttl_ms(cfg, s))) {
	case STORE_OK:
		break;
	case STORE_EXISTS:	/* 256 random bits collided: never */
		log_event("error", "new session ID already in use");
		return SHOAL_UNAVAILABLE;
	default:
		return SHOAL_UNAVAILABLE;
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

	rc = user_create(r->t->store, &r->t->arena, r->t->cfg->key_prefix,
	    name, password);
	if (rc != SHOAL_OK)
		return rc;
	return start_session(r, name);
}

enum shoal_status
shoal_login(struct shoal_req *r, const char *name, const char *password)
{
	enum shoal_status	 rc;

	rc = user_verify(r->t->store, r->t->replica, &r->t->arena,
	    r->t->cfg->key_prefix, name, password);
	if (rc != SHOAL_OK)
		return rc;
	return start_session(r, name);
}

enum shoal_status
shoal_logout(struct shoal_req *r)
{
	if (r->state == SESSION_LIVE &&
	    store_del(r->t->store, r->key) != STORE_OK)
		return SHOAL_UNAVAILABLE;
	become_anonymous(r);
	r->csrf = NULL;
	return SHOAL_OK;
}
