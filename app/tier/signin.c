/*
 * signin.c - starting a session for a user: sign-up, sign-in and a password
 * change, each under a new ID, taking over a guest's data; and the user's
 * list of sessions (shoal.h).
 */
#include <string.h>

#include "appdata.h"
#include "config.h"
#include "db.h"
#include "index.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "redis.h"
#include "request.h"
#include "scripts.h"
#include "session.h"
#include "throttle.h"
#include "users.h"

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

	*bytes = session_encode_to_write(&r->t->arena, s, len);
	redis_batch_init(&b, &r->t->arena, 1);
	redis_set(&b, &r->key, *bytes, *len, REDIS_SET_ALWAYS,
	    session_ttl_ms(r->t->cfg, s));
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
		g->data = now != NULL ? session_record_data(r, now) : NULL;
		s->app = joined_data(r, g);
		if ((st = rewrite(r, s, bytes, len)) != SHOAL_OK)
			return st;
		session_backoff(attempt);
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
start_session(struct shoal_req *r, const char *name, int64_t account_id,
    int64_t generation, enum sid_kind kind)
{
	const struct config	*cfg = r->t->cfg;
	struct arena		*a = &r->t->arena;
	struct guest		 guest, *g = NULL;
	struct sid		 old_sid = r->sid;
	struct redis_key	 old_key = r->key;
	Shoal__Session		*s;
	unsigned char		*bytes;
	size_t			 len;
	int64_t			 now = session_now(), idle, max;
	enum shoal_status	 st;

	if (r->state == SESSION_GUEST) {
		g = &guest;
		g->key = r->key;
		g->seen = r->raw;
		g->data = shoal_data(r);
	}
	session_lifetimes(cfg, kind, &idle, &max);
	s = arena_alloc(a, sizeof *s);
	shoal__session__init(s);
	s->schema = RECORD_SCHEMA;
	s->version = 1;
	s->user = arena_strdup(a, name);
	s->account_id = account_id;
	s->kind = kind == SID_REMEMBERED ? SHOAL__KIND__REMEMBERED :
	    SHOAL__KIND__USER;
	s->created = now;
	s->expires = now + max;
	s->app = joined_data(r, g);
	bytes = session_encode_to_write(a, s, &len);

	sid_new(&r->sid, r->t->keys, kind);
	if (session_set_key(r) != 0)
		st = SHOAL_INTERNAL;
	else
		st = index_create(r->t->redis, a, cfg, name, &r->sid, bytes,
		    len, session_ttl_ms(cfg, s), s->expires,
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
		st = session_end_this(r);
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
	metrics_count(METRIC_SESSIONS_CREATED);
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
	struct db		*db;
	enum shoal_status	 rc;
	int64_t			 id;

	if ((db = db_thread()) == NULL)
		return SHOAL_UNAVAILABLE;
	/* The budget first: whether a name is taken costs an attempt. */
	rc = throttle_signup(r->t->redis, &r->t->arena, r->t->cfg,
	    throttle_client(r), &r->retry_after);
	if (rc != SHOAL_OK)
		return rc;
	if ((rc = user_create(db, name, password, &id)) != SHOAL_OK)
		return rc;
	/* A new account's generation is 1 (0001_accounts.sql). */
	return start_session(r, name, id, 1, kind_of(flags));
}

static enum shoal_status
login(struct shoal_req *r, const char *name, const char *password,
    unsigned flags)
{
	const struct config	*cfg = r->t->cfg;
	struct arena		*a = &r->t->arena;
	const char		*addr = throttle_client(r);
	struct db		*db;
	enum shoal_status	 rc;
	int64_t			 id, generation;

	if (!user_name_valid(name))
		return SHOAL_BAD_PASSWORD;
	if ((db = db_thread()) == NULL)
		return SHOAL_UNAVAILABLE;
	rc = throttle_login_begin(r->t->redis, a, cfg, name, addr,
	    &r->retry_after);
	if (rc != SHOAL_OK)
		return rc;
	rc = user_verify(db, name, password, &id, &generation);
	if (rc != SHOAL_OK)
		return rc;
	throttle_login_ok(r->t->redis, a, cfg, name, addr);
	return start_session(r, name, id, generation, kind_of(flags));
}

enum shoal_status
shoal_login(struct shoal_req *r, const char *name, const char *password,
    unsigned flags)
{
	enum shoal_status	 st = login(r, name, password, flags);

	metrics_sign_in(st);
	return st;
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
	metrics_add(METRIC_SESSIONS_ENDED, ended);
	return ended == 1 ? SHOAL_OK : SHOAL_REJECT;
}

enum shoal_status
shoal_revoke_others(struct shoal_req *r, size_t *ended)
{
	char	 hash[SID_HASH_LEN + 1];

	enum shoal_status	 st;

	*ended = 0;
	if (r->state != SESSION_LIVE)
		return SHOAL_ANONYMOUS;
	if (sid_hash(&r->sid, hash, sizeof hash) != 0)
		return SHOAL_INTERNAL;
	st = index_revoke(r->t->redis, &r->t->arena, r->t->cfg,
	    r->session->user, NULL, hash, ended);
	metrics_add(METRIC_SESSIONS_ENDED, *ended);
	return st;
}

/*
 * The password changes and every session of the user ends but a new one
 * for this request: under a new ID (whoever copied the old cookie is out
 * too) and for the new credential generation. The order matters
 * (docs/security.md): the change commits in PostgreSQL (the generation's
 * truth) first; then the new session, created for the new generation,
 * raises Redis's copy of it and ends every other session in the same step
 * (lua/index_add.lua), so a sign-in that checked the old password and is
 * still on its way is refused, however late it arrives.
 */
enum shoal_status
shoal_change_password(struct shoal_req *r, const char *current,
    const char *fresh)
{
	struct db		*db;
	enum shoal_status	 st;
	const char		*user;
	int64_t			 id, generation;
	size_t			 ended;

	if (r->state != SESSION_LIVE)
		return SHOAL_ANONYMOUS;
	if (!user_password_valid(fresh))
		return SHOAL_REJECT;
	if ((db = db_thread()) == NULL)
		return SHOAL_UNAVAILABLE;
	user = arena_strdup(&r->t->arena, r->session->user);
	st = user_verify(db, user, current, &id, &generation);
	if (st != SHOAL_OK)
		return st;
	if (id != r->session->account_id) {
		/* Not the account this session was for (cannot happen while
		 * accounts are never deleted). */
		log_event("error", "password change: the session's account "
		    "is not the name's");
		return SHOAL_INTERNAL;
	}
	st = user_set_password(db, id, fresh, &generation);
	if (st != SHOAL_OK)
		return st;
	if ((st = start_session(r, user, id, generation,
	    r->session->kind == SHOAL__KIND__REMEMBERED ? SID_REMEMBERED :
	    SID_USER)) != SHOAL_OK) {
		log_event("error", "password changed, but its new session "
		    "failed: other sessions end at the next sign-in");
		return st;
	}
	/* Already ended with the raise; this only repeats it. */
	return shoal_revoke_others(r, &ended);
}
