/*
 * session.h - the session lifecycle around a handler: load it from the
 * cookie before, and the calls a handler makes (shoal_session_change,
 * shoal_login, shoal_logout) implemented over redis.h.
 *
 * session_load() costs nothing for a visitor without a valid signed cookie
 * and one Redis round trip otherwise.
 */
#ifndef SESSION_H
#define SESSION_H

#include "shoal.h"

struct shoal_req;

/*
 * Each conflict means another request's write landed, and each request
 * writes once, so a request can only lose as often as other writers of the
 * same session finish meanwhile. 64 covers a session hammered by dozens of
 * parallel clients; past that the visitor gets 503 with Retry-After.
 */
#define SESSION_CAS_RETRIES	64

/* Reads the cookie and loads the record. SHOAL_OK, or SHOAL_UNAVAILABLE. */
enum shoal_status session_load(struct shoal_req *);

#endif
