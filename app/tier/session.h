/*
 * session.h - the session lifecycle around a handler: load it from the
 * cookie before, and the calls a handler makes (shoal_session_change,
 * shoal_logout; the sign-ins in signin.c) implemented over redis.h.
 *
 * session_load() costs nothing for a visitor without a valid signed cookie
 * and one Redis round trip otherwise.
 */
#ifndef SESSION_H
#define SESSION_H

#include "record.h"
#include "shoal.h"

struct config;
struct shoal_req;

/*
 * Each conflict means another request's write landed, and each request
 * writes once, so a request can only lose as often as other writers of the
 * same session finish meanwhile. 64 covers a session hammered by dozens of
 * parallel clients; past that the visitor gets 503 with Retry-After.
 */
#define SESSION_CAS_RETRIES	64

/*
 * Reads the cookie and loads the record. SHOAL_OK, or SHOAL_UNAVAILABLE.
 *
 * When other requests wait on the thread's ready connections (see
 * thread_ctx), their sessions are loaded in the same write, each its own
 * batch (an error in one fails only that one), and kept for them in the
 * thread's prefetch: the request that comes to be served on that
 * connection, with the same cookie, takes its record from there instead of
 * a round trip. The record is read after that request arrived, and before
 * it is answered, as its own load would be.
 */
enum shoal_status session_load(struct shoal_req *);

/* The thread's sessions loaded ahead (one per thread, see above). */
struct session_prefetch *session_prefetch_new(void);
void	 session_prefetch_free(struct session_prefetch *);
/* Forgets them all: the ready connections they were for have changed. */
void	 session_prefetch_forget(struct session_prefetch *);

/* For signin.c, which starts sessions: */
int64_t	 session_now(void);
/* The same clock in ms. */
int64_t	 session_now_ms(void);
/* Encodes a record about to be written with its TTL set to the idle
 * window, stamped with the time first (ttl_set_ms: see session.c). */
unsigned char	*session_encode_to_write(struct arena *, Shoal__Session *,
		    size_t *len);
/* The idle window and absolute lifetime (s) of a kind (enum sid_kind). */
void	 session_lifetimes(const struct config *, int kind, int64_t *idle,
	    int64_t *max);
/* The TTL a write of s sets: its idle window, cut at its absolute end. */
int64_t	 session_ttl_ms(const struct config *, const Shoal__Session *s);
/* r->key from r->sid. */
int	 session_set_key(struct shoal_req *);
/* The app's message in s; NULL (logged) when it does not decode. */
ProtobufCMessage *session_record_data(struct shoal_req *,
	    const Shoal__Session *s);
void	 session_become_anonymous(struct shoal_req *);
/* A random pause after the second conflict in a row. */
void	 session_backoff(int attempt);
/* Deletes this request's session record and its entry in the user's list. */
enum shoal_status session_end_this(struct shoal_req *);

#endif
