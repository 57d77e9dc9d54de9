/*
 * request.h - one request as the tier sees it, and the thread context it runs
 * in. Handlers only see the opaque struct shoal_req through shoal.h.
 */
#ifndef REQUEST_H
#define REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "http.h"
#include "keys.h"
#include "record.h"
#include "route.h"
#include "shoal.h"
#include "sid.h"

struct config;
struct keyring;
struct redis;

/* What one worker thread owns: nothing here is shared with another thread. */
struct session_prefetch;

/* A request waiting on a ready connection: which one, and its Cookie
 * header (in the current request's arena). */
struct ready_request {
	int		 slot;
	const char	*cookie;
};

struct thread_ctx {
	unsigned		 id;
	const struct shoal_app	*app;
	const struct config	*cfg;
	const struct keyring	*keys;
	struct redis		*redis;		/* the primary */
	struct arena		 arena;		/* reset after each request */
	struct buf		 headers;	/* reset after each request */
	struct buf		 body;		/* reset after each request */
	struct buf		 scratch;	/* for one call at a time */
	struct buf		 fixed_headers;	/* the same on every response */
	/*
	 * Requests waiting behind this one on the thread's other ready
	 * connections (worker.c): slot is this request's connection among
	 * them (-1: none), waiting() gives the Cookie headers of the others
	 * from slot `from` on, and session.c loads their sessions with this
	 * one's, into prefetch. waiting is NULL where nothing waits (tests,
	 * tools).
	 */
	int			 slot;
	size_t			(*waiting)(struct thread_ctx *, int from,
				    struct ready_request *, size_t max);
	struct session_prefetch	*prefetch;
};

/* The input of a request, as the FastCGI parameters give it. */
struct req_input {
	const char	*method;	/* REQUEST_METHOD */
	const char	*path;		/* DOCUMENT_URI, or REQUEST_URI without query */
	const char	*query;		/* QUERY_STRING */
	const char	*cookie;	/* HTTP_COOKIE */
	const char	*content_type;
	const char	*csrf_header;	/* HTTP_X_CSRF_TOKEN */
	const char	*content_length;	/* CONTENT_LENGTH */
	const char	*body;		/* what came of it, NUL-terminated */
	size_t		 body_len;
	/* getenv-like lookup of any other parameter */
	const char	*(*param)(void *ctx, const char *name);
	void		*param_ctx;
};

/* A route parameter as a handler sees it (shoal_param). */
struct req_param {
	const char	*name;		/* in the pattern, name_len bytes */
	size_t		 name_len;
	const char	*value;		/* decoded, NUL-terminated */
	int64_t		 num;		/* {name:int}: its value; else 0 */
};

enum session_state {
	SESSION_NONE = 0,	/* no or invalid cookie: anonymous */
	SESSION_GUEST,		/* a guest's record loaded: not signed in */
	SESSION_LIVE,		/* a signed-in user's record loaded */
};

struct shoal_req {
	struct thread_ctx	*t;
	struct req_input	 in;
	enum shoal_method	 method;
	struct http_fields	 query;
	struct http_fields	 form;
	/* Set only on a route with parameters: plain paths pay nothing. */
	const struct req_param	*params;
	size_t			 nparams;

	/* session */
	enum session_state	 state;
	struct sid		 sid;
	struct redis_key		 key;		/* of the session record */
	Shoal__Session		*session;	/* NULL when anonymous */
	struct record_bytes	 raw;		/* the bytes session came from */
	void			*data;		/* the app's message, once decoded */
	char			*csrf;		/* token for this response */
	int			 new_cookie;	/* send the session cookie */
	int			 clear_cookie;	/* expire the session cookie */
	char			*new_nonce;	/* send this anonymous CSRF nonce */
	char			*flash_out;	/* send this flash cookie value */
	int			 flash_read;	/* shown: clear the flash cookie */

	/* response */
	int			 status;
	int			 responded;
	int			 head_only;	/* HEAD: headers, no body */
	int			 private_page;	/* shows session data */
	const char		*content_type;
	const char		*location;	/* 303 target */
	const char		*extra_header;	/* one more "Name: value" line */
	int64_t			 retry_after;	/* seconds, for 429 */
	const char		*request_id;	/* once chosen: reqid.h */
	size_t			 bytes_out;	/* written by req_flush */
	int			 metrics_route;	/* slot, metrics.h; 0: unmatched */
};

/* Where a finished response goes: FCGX_PutStr in the worker, a buffer in
 * tests. */
typedef void (*req_write_fn)(void *ctx, const char *data, size_t len);

/* Sets up r for one request on thread t; in is copied. */
void	req_init(struct shoal_req *r, struct thread_ctx *t,
	    const struct req_input *in);
/* Runs the request: parse, session, route, handler. */
void	req_handle(struct shoal_req *r);
/* Writes status line, headers and body. */
void	req_flush(struct shoal_req *r, req_write_fn, void *ctx);

/* A strict decimal Content-Length: -1 when absent, -2 when not a number. */
long long req_content_length(const char *);
/*
 * The route of the table for path and method, with its parameters in pm
 * (spans into path); NULL when there is none, and then *other_method says
 * whether the path exists for another method (405 rather than 404).
 */
const struct shoal_route *req_route_find(const struct shoal_route *,
	    const char *path, enum shoal_method, struct route_params *pm,
	    int *other_method);
/*
 * Decodes the parameters of the matched route into r's arena for
 * shoal_param(); ROUTE_OK, or why a value was refused (the caller answers
 * 400).
 */
enum route_error req_params_bind(struct shoal_req *,
	    const struct route_params *);
/* 0 when the POST carries a valid CSRF token. */
int	req_csrf_check(struct shoal_req *);
/* Text for an HTTP status code. */
const char *req_status_text(int status);

#endif
