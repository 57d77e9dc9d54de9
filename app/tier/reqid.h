/*
 * reqid.h - the request id: one string that ties a request's lines in the
 * front's log, the worker's log and the response (X-Request-Id) together.
 */
#ifndef REQID_H
#define REQID_H

#include <stddef.h>

/* Longest id taken from outside; ours are 32 hex digits. */
#define REQID_MAX	64

struct shoal_req;

/*
 * 1 when s may be used as a request id: 1 to REQID_MAX bytes of letters,
 * digits and ".-_:" (what nginx's $request_id and common tracing ids are
 * made of), so that it needs no escaping in a header or a log line.
 */
int	reqid_valid(const char *s);

/*
 * The id of r, chosen once: an X-Request-Id header sent by a trusted proxy
 * (REMOTE_ADDR in SHOAL_TRUSTED_PROXIES); else the REQUEST_ID parameter the
 * front sets (nginx: $request_id); else 16 random bytes in hex. An id that
 * is not valid is passed over, never repaired.
 */
const char *reqid_of(struct shoal_req *r);

#endif
