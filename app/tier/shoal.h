/*
 * shoal.h - everything an application built on shoal needs from the tier.
 *
 * An application is a route table (shoal_routes, defined by the app), one
 * handler per route and one template per page under templates/. A handler
 * reads the request, reads or changes the session, and ends with exactly one
 * response call (shoal_render, shoal_redirect, shoal_json or shoal_error).
 *
 * Memory: every pointer the tier hands to a handler, and everything a handler
 * gets from shoal_alloc(), lives until the end of the request and is freed by
 * the tier. Handlers never free.
 */
#ifndef SHOAL_H
#define SHOAL_H

#include <stddef.h>
#include <stdint.h>

#include "proto/session.pb-c.h"

struct shoal_req;

enum shoal_method {
	SHOAL_GET = 1,
	SHOAL_POST,
};

typedef void (*shoal_handler)(struct shoal_req *);

struct shoal_route {
	enum shoal_method	 method;
	/* "/cart", or with parameters "/orders/{id:int}/{note}" (route.h) */
	const char		*path;
	shoal_handler		 handler;
};

/* Defined by the application, ended by an entry whose path is NULL. */
extern const struct shoal_route shoal_routes[];

/* A name and a value for a template; the value is HTML-escaped unless the
 * template writes {{&name}}. A list of them ends with a NULL name. */
struct shoal_var {
	const char	*name;
	const char	*value;
};

/* Request. Field values are decoded, NUL-terminated, NULL when absent;
 * the path is as the client sent it. */
const char	*shoal_path(const struct shoal_req *);
enum shoal_method shoal_method(const struct shoal_req *);
const char	*shoal_query(const struct shoal_req *, const char *name);
const char	*shoal_form(const struct shoal_req *, const char *name);
const char	*shoal_header(const struct shoal_req *, const char *cgi_name);
/* A route parameter ({name} or {name:int} in the route's path); NULL / 0
 * when the route has none of that name. Text is percent-decoded. */
const char	*shoal_param(const struct shoal_req *, const char *name);
int64_t		 shoal_param_int(const struct shoal_req *, const char *name);
void		*shoal_alloc(struct shoal_req *, size_t);
char		*shoal_strdup(struct shoal_req *, const char *);
char		*shoal_printf(struct shoal_req *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Session. shoal_user() is NULL for an anonymous visitor; shoal_data() is
 * never NULL (an empty AppData for anonymous visitors). */
const char	*shoal_user(const struct shoal_req *);
const Shoal__AppData *shoal_data(const struct shoal_req *);
int64_t		 shoal_expires_in(const struct shoal_req *);
const char	*shoal_csrf_token(struct shoal_req *);

/*
 * A change to the session's application data. It edits `data` in place and
 * returns SHOAL_CHANGED, SHOAL_UNCHANGED or SHOAL_REJECTED. The tier may call
 * it more than once, each time on a fresh copy of the record (when another
 * request wrote in between), so it must depend only on `data` and `arg`.
 * Allocate what it adds with shoal_alloc(req, ...).
 */
enum shoal_change_result {
	SHOAL_UNCHANGED = 0,
	SHOAL_CHANGED,
	SHOAL_REJECTED,
};
typedef enum shoal_change_result (*shoal_change_fn)(struct shoal_req *,
    Shoal__AppData *data, void *arg);

enum shoal_status {
	SHOAL_OK = 0,
	SHOAL_ANONYMOUS,	/* no session to change */
	SHOAL_CONFLICT,		/* too many concurrent writers; try again */
	SHOAL_REJECT,		/* the change function said no */
	SHOAL_TAKEN,		/* the name is already in use */
	SHOAL_BAD_PASSWORD,	/* unknown user or wrong password */
	SHOAL_UNAVAILABLE,	/* Redis did not answer */
	SHOAL_THROTTLED,	/* too many attempts; try later */
	SHOAL_INTERNAL,		/* Redis said what it never should (logged) */
	SHOAL_BUSY,		/* no turn to hash a password; try again */
};

enum shoal_status shoal_session_change(struct shoal_req *, shoal_change_fn,
    void *arg) __attribute__((warn_unused_result));

/* Accounts. Names are 3-32 of a-z 0-9 _ -; passwords 8-128 bytes.
 * Sign-in and sign-up issue a new session and its cookie. */
int	shoal_user_name_valid(const char *);
int	shoal_password_valid(const char *);
enum shoal_status shoal_signup(struct shoal_req *, const char *name,
    const char *password) __attribute__((warn_unused_result));
enum shoal_status shoal_login(struct shoal_req *, const char *name,
    const char *password) __attribute__((warn_unused_result));
enum shoal_status shoal_logout(struct shoal_req *)
    __attribute__((warn_unused_result));

/* The signed-in user's sessions, to show and to end. */
struct shoal_session_info {
	const char	*id;		/* a hash of the session ID, not the ID */
	int64_t		 created;	/* unix seconds */
	int64_t		 last_seen;	/* unix seconds, to within a minute */
	const char	*user_agent;
	int		 current;	/* 1 for the session of this request */
};

enum shoal_status shoal_sessions(struct shoal_req *,
    struct shoal_session_info **list, size_t *n)
    __attribute__((warn_unused_result));
/* Ends one of the user's sessions (SHOAL_REJECT: not one of theirs). */
enum shoal_status shoal_revoke(struct shoal_req *, const char *id)
    __attribute__((warn_unused_result));
/* Ends every session of the user but this one: "sign out everywhere else". */
enum shoal_status shoal_revoke_others(struct shoal_req *, size_t *ended)
    __attribute__((warn_unused_result));
/* Checks the current password, sets the new one, ends all other sessions. */
enum shoal_status shoal_change_password(struct shoal_req *,
    const char *current, const char *fresh)
    __attribute__((warn_unused_result));

/* Responses: call exactly one. */
void	shoal_render(struct shoal_req *, int status, const char *template,
	    const struct shoal_var *vars);
void	shoal_redirect(struct shoal_req *, const char *location);
void	shoal_json(struct shoal_req *, int status, const char *body);
void	shoal_error(struct shoal_req *, int status, const char *reason);
/* The reply for a status the tier itself chose (503 when Redis is down...). */
void	shoal_fail(struct shoal_req *, enum shoal_status);

/* Renders a template without the layout into a string, e.g. one row of a
 * list, to pass on as a {{&raw}} variable. */
char	*shoal_render_fragment(struct shoal_req *, const char *template,
	    const struct shoal_var *vars);

/* Helpers to build fragments and JSON. Results live until the request ends. */
char	*shoal_html_escape(struct shoal_req *, const char *);
char	*shoal_json_string(struct shoal_req *, const char *);

#endif
