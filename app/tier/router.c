/*
 * router.c - one request from parsed input to response: the checks every
 * request goes through (method, sizes, encodings), the session, the CSRF
 * check of every POST, then the application's handler.
 */
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dbapi.h"
#include "db.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "redis.h"
#include "route.h"
#include "session.h"
#include "worker.h"

#define PATH_MAX_LEN	2048

/*
 * Ready when Redis takes a write: a tiny one with a short life, so a Redis
 * at its maxmemory (which refuses writes and so every sign-in and session
 * change, while reads still work) shows here and in the log.
 */
static void
readyz(struct shoal_req *r)
{
	struct redis_batch	 b;
	struct redis_key	 probe;

	if (worker_stopping()) {
		/* SHOAL_DRAIN_DELAY_MS: stopping soon; send others. */
		shoal_json(r, 503, "{\"status\":\"stopping\"}");
		r->extra_header = "Retry-After: 1";
		return;
	}
	key_probe(&probe, r->t->cfg->key_prefix);
	redis_batch_init(&b, &r->t->arena, 1);
	redis_set(&b, &probe, "1", 1, REDIS_SET_ALWAYS, 10000);
	if (redis_run(r->t->redis, &b) == 0) {
		shoal_json(r, 200, "{\"status\":\"ready\"}");
		return;
	}
	if (redis_fault(r->t->redis) == REDIS_FAULT_ERROR &&
	    strncmp(redis_errstr(r->t->redis), "OOM", 3) == 0) {
		log_event("error", "not ready: Redis refuses writes, it is "
		    "at its maxmemory");
		shoal_json(r, 503, "{\"status\":\"redis is out of memory\"}");
	} else
		shoal_json(r, 503, "{\"status\":\"redis unavailable\"}");
	r->extra_header = "Retry-After: 1";
}

/*
 * The database, as this thread reaches it (SHOAL_DB): a read on the primary,
 * then one meant for the replica, which says who answered. Not part of
 * /readyz: pages that need no database (or read it from the cache) still
 * serve while it is down. 404 without a database.
 */
static void
healthz_db(struct shoal_req *r)
{
	struct db	*db = db_thread();
	PGresult	*res = NULL;
	int		 replica;

	if (db == NULL) {
		shoal_json(r, 404, "{\"status\":\"no database\"}");
		return;
	}
	if (db_exec(db, DB_PRIMARY, "SELECT 1", 0, NULL, NULL) != 0 ||
	    db_exec(db, DB_REPLICA, "SELECT pg_is_in_recovery()", 0, NULL,
	    &res) != 0) {
		if (db_status(db, "health check") == SHOAL_UNAVAILABLE) {
			shoal_json(r, 503,
			    "{\"status\":\"database unavailable\"}");
			r->extra_header = "Retry-After: 1";
		} else
			shoal_json(r, 500, "{\"status\":\"database error\"}");
		return;
	}
	replica = PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	shoal_json(r, 200, replica ?
	    "{\"status\":\"ok\",\"reads\":\"replica\"}" :
	    "{\"status\":\"ok\",\"reads\":\"primary\"}");
}

static int
builtin(struct shoal_req *r)
{
	if (strcmp(r->in.path, "/healthz") == 0) {
		r->metrics_route = METRICS_ROUTE_HEALTHZ;
		shoal_json(r, 200, "{\"status\":\"ok\"}");
		r->private_page = 0;
		return 1;
	}
	if (strcmp(r->in.path, "/readyz") == 0) {
		r->metrics_route = METRICS_ROUTE_READYZ;
		readyz(r);
		r->private_page = 0;
		return 1;
	}
	if (strcmp(r->in.path, "/healthz/db") == 0) {
		r->metrics_route = METRICS_ROUTE_HEALTHZ_DB;
		healthz_db(r);
		r->private_page = 0;
		return 1;
	}
	return 0;
}

/*
 * Plain paths go first and cost what they always did, one strcmp per route;
 * patterns with parameters are only tried when no plain path of this method
 * is equal, so a plain "/cart/items/new" wins over "/cart/items/{item}"
 * wherever it stands in the table. A path equal to a pattern ("/x/{id}" sent
 * as it is) is matched as a path, not taken for the pattern itself.
 */
const struct shoal_route *
req_route_find(const struct shoal_route *routes, const char *path,
    enum shoal_method m, struct route_params *pm, int *other_method)
{
	const struct shoal_route	*rt;

	*other_method = 0;
	pm->n = 0;
	for (rt = routes; rt->path != NULL; rt++) {
		if (strcmp(rt->path, path) != 0 || route_has_params(rt->path))
			continue;
		if (rt->method == m)
			return rt;
		*other_method = 1;
	}
	for (rt = routes; rt->path != NULL; rt++) {
		if (!route_has_params(rt->path) ||
		    !route_match(rt->path, path, pm))
			continue;
		if (rt->method == m)
			return rt;
		*other_method = 1;
	}
	pm->n = 0;
	return NULL;
}

static int
parse_input(struct shoal_req *r)
{
	const struct config	*cfg = r->t->cfg;
	const char		*ct = r->in.content_type;
	enum http_error		 e;

	if (strlen(r->in.path) > PATH_MAX_LEN) {
		shoal_error(r, 414, "path too long");
		return -1;
	}
	if (r->in.cookie != NULL &&
	    strlen(r->in.cookie) > (size_t)cfg->max_cookie) {
		log_event("info", "rejected: cookie header over %ld bytes",
		    cfg->max_cookie);
		shoal_error(r, 400, "cookie header too large");
		return -1;
	}
	if (r->in.query != NULL && (e = http_parse_form(&r->query,
	    &r->t->arena, r->in.query, strlen(r->in.query))) != HTTP_OK) {
		log_event("info", "rejected query: %s", http_strerror(e));
		shoal_error(r, 400, http_strerror(e));
		return -1;
	}
	if (r->method != SHOAL_POST || r->in.body_len == 0)
		return 0;
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
	    33) != 0 || (ct[33] != '\0' && ct[33] != ';')) {
		shoal_error(r, 415, "expected application/x-www-form-urlencoded");
		return -1;
	}
	if ((e = http_parse_form(&r->form, &r->t->arena, r->in.body,
	    r->in.body_len)) != HTTP_OK) {
		log_event("info", "rejected form: %s", http_strerror(e));
		shoal_error(r, 400, http_strerror(e));
		return -1;
	}
	return 0;
}

/*
 * The body's size, from CONTENT_LENGTH alone: the worker does not read a
 * body over SHOAL_MAX_BODY, so this answers before anything else.
 */
static int
check_body(struct shoal_req *r)
{
	long long	 len = req_content_length(r->in.content_length);

	if (len == -2) {
		log_event("info", "rejected: Content-Length is not a number");
		shoal_error(r, 400, "bad Content-Length");
		return -1;
	}
	if (len > r->t->cfg->max_body) {
		log_event("info", "rejected: body over %ld bytes",
		    r->t->cfg->max_body);
		shoal_error(r, 413, "request body too large");
		return -1;
	}
	if (len > 0 && (size_t)len != r->in.body_len) {
		log_event("info", "rejected: body shorter than its "
		    "Content-Length");
		shoal_error(r, 400, "bad request body");
		return -1;
	}
	return 0;
}

void
req_handle(struct shoal_req *r)
{
	const struct shoal_route	*rt;
	struct route_params		 params;
	const char			*m = r->in.method;
	enum shoal_status		 st;
	enum route_error		 re;
	int				 other;

	if (check_body(r) != 0)
		return;
	if (strcmp(m, "GET") == 0)
		r->method = SHOAL_GET;
	else if (strcmp(m, "HEAD") == 0) {
		r->method = SHOAL_GET;
		r->head_only = 1;
	} else if (strcmp(m, "POST") == 0)
		r->method = SHOAL_POST;
	else {
		shoal_error(r, 405, "method not allowed");
		r->extra_header = "Allow: GET, HEAD, POST";
		return;
	}
	if (builtin(r))
		return;
	if (parse_input(r) != 0)
		return;
	if ((rt = req_route_find(r->t->app->routes, r->in.path, r->method, &params,
	    &other)) == NULL) {
		if (other) {
			shoal_error(r, 405, "method not allowed");
			r->extra_header = r->method == SHOAL_GET ?
			    "Allow: POST" : "Allow: GET, HEAD";
		} else
			shoal_error(r, 404, "no such page");
		return;
	}
	r->metrics_route = METRICS_ROUTE_APP + (int)(rt - r->t->app->routes);
	if (params.n > 0 && (re = req_params_bind(r, &params)) != ROUTE_OK) {
		log_event("info", "rejected path: %s", route_strerror(re));
		shoal_error(r, 400, route_strerror(re));
		return;
	}
	if ((st = session_load(r)) != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	if (r->method == SHOAL_POST && req_csrf_check(r) != 0) {
		log_event("info", "rejected POST %s: missing or invalid CSRF "
		    "token", r->in.path);
		shoal_error(r, 403, "missing or invalid CSRF token");
		return;
	}
	rt->handler(r);
	dbapi_request_end(r);
	if (!r->responded) {
		log_event("error", "handler for %s sent no response", r->in.path);
		shoal_error(r, 500, "internal error");
	}
}
