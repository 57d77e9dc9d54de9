/*
 * fcgi_peek.h - one parameter of the FastCGI request waiting on a
 * connection, read from a copy of its bytes (recv MSG_PEEK) without taking
 * them: libfcgi reads the request itself later, as ever.
 *
 * worker.c uses it to learn the session cookies of the requests queued on
 * a thread's other ready connections, so that the first request's session
 * load carries theirs too (session.c). Anything it cannot read for sure (a
 * request not all there yet, a parameter split across records, a record
 * that is not what nginx or lighttpd send) is "not found": the request is
 * then served the ordinary way.
 */
#ifndef FCGI_PEEK_H
#define FCGI_PEEK_H

#include <stddef.h>

#define FCGI_PEEK_MAX	16384	/* bytes looked at, at most */

/*
 * Finds name among the parameters of the first request in buf[0..len-1]
 * (a BEGIN_REQUEST record, then PARAMS records). Returns 1 and points
 * *val at its value (not NUL-terminated) when found, 0 otherwise.
 */
int	fcgi_peek_param(const unsigned char *buf, size_t len, const char *name,
	    const unsigned char **val, size_t *vlen);

#endif
