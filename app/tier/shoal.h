/*
 * shoal.h - everything an application built on shoal needs from the tier.
 *
 * An application is a value, struct shoal_app: its route table, its
 * templates (generated from its templates/ folder by the build), the
 * Protobuf message it keeps in each session (its own .proto) and how a
 * guest's data joins a user's at sign-in. Its main() is one call:
 *
 *	int main(int argc, char **argv) { return shoal_main(argc, argv, &app); }
 *
 * A handler reads the request, reads or changes the session, and ends with
 * exactly one response call (shoal_render, shoal_json_send, shoal_redirect,
 * shoal_error or shoal_fail).
 *
 * Memory: every pointer the tier hands to a handler, and everything a handler
 * gets from shoal_alloc(), lives until the end of the request and is freed by
 * the tier. Handlers never free.
 */
#ifndef SHOAL_H
#define SHOAL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

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

/*
 * A schema migration: the build embeds each NNNN_name.sql of the app's db/
 * folder into a table (tools/embed shoal.h shoal_migration app_migrations
 * FILE...), ended by a NULL name, that struct shoal_app .migrations names.
 * `shoal db migrate` applies them after the tier's; see docs/data.md.
 */
struct shoal_migration {
	const char	*name;		/* the file name without ".sql" */
	const char	*text;
	size_t		 len;
};

/* A template: the build embeds each file of the app's templates/ folder. */
struct shoal_template {
	const char	*name;		/* the file name without ".html" */
	const char	*text;
	size_t		 len;
};

/*
 * At sign-in or sign-up, a guest's data joins the new session of the user:
 * into is that session's data (the app's message, empty), guest the
 * guest's. It runs once per sign-in that takes the guest's data over, and
 * may run again on a fresh `into` when another request changed the guest
 * meanwhile, so it must depend only on its arguments.
 */
typedef void (*shoal_merge_fn)(struct shoal_req *, void *into,
    const void *guest);

struct shoal_app {
	const char			*name;		/* in logs */
	const struct shoal_route	*routes;	/* ended by a NULL path */
	const struct shoal_template	*templates;	/* ended by a NULL name */
	const ProtobufCMessageDescriptor *data;		/* session data */
	shoal_merge_fn			 merge;		/* NULL: a guest's data
							   is dropped at sign-in */
	const struct shoal_migration	*migrations;	/* NULL: no tables of
							   its own */
};

/* Runs the shoal command (serve, keygen, ...) for app; returns the exit
 * status. */
int	shoal_main(int argc, char **argv, const struct shoal_app *app);

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

/*
 * Session. shoal_user() is NULL unless a user signed in. shoal_guest() is 1
 * for a visitor who has not signed in but changed the session data (a guest
 * session). shoal_data() is the app's session message (struct shoal_app
 * .data), decoded; never NULL: an empty message when there is no session.
 * Read it only; change it through shoal_session_change().
 */
const char	*shoal_user(const struct shoal_req *);
/*
 * The signed-in user's account id (accounts.id in PostgreSQL), which is
 * what an app's own tables reference (an order's account); 0 when nobody
 * is signed in. Set at sign-up and sign-in, kept in the session record.
 */
int64_t		 shoal_account_id(const struct shoal_req *);
int		 shoal_guest(const struct shoal_req *);
const void	*shoal_data(struct shoal_req *);
int64_t		 shoal_expires_in(const struct shoal_req *);
const char	*shoal_csrf_token(struct shoal_req *);
/* The request's id, as in its X-Request-Id header and log lines: for an
 * error page a user may quote, or a call to another service. */
const char	*shoal_request_id(struct shoal_req *);

/*
 * A change to the session's application data. It edits `data` (the app's
 * message) in place and returns SHOAL_CHANGED, SHOAL_UNCHANGED or
 * SHOAL_REJECTED. The tier may call it more than once, each time on a fresh
 * copy of the record (when another request wrote in between), so it must
 * depend only on `data` and `arg`. Allocate what it adds with
 * shoal_alloc(req, ...).
 *
 * A visitor without a session gets a guest session on the first change
 * that returns SHOAL_CHANGED (a few per address per minute, and at most
 * SHOAL_GUEST_MAX_BYTES: SHOAL_THROTTLED, SHOAL_TOO_LARGE); reading and
 * SHOAL_UNCHANGED cost no Redis command.
 */
enum shoal_change_result {
	SHOAL_UNCHANGED = 0,
	SHOAL_CHANGED,
	SHOAL_REJECTED,
};
typedef enum shoal_change_result (*shoal_change_fn)(struct shoal_req *,
    void *data, void *arg);

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
	SHOAL_TOO_LARGE,	/* a guest's session would outgrow its cap */
};

enum shoal_status shoal_session_change(struct shoal_req *, shoal_change_fn,
    void *arg) __attribute__((warn_unused_result));

/*
 * Accounts. Names are 3-32 of a-z 0-9 _ -; passwords 8-128 bytes.
 * Sign-in and sign-up issue a new session and its cookie; a guest's data
 * joins it (struct shoal_app .merge) and the guest session ends. With
 * SHOAL_REMEMBER the session has the longer SHOAL_REMEMBER_* lifetimes and
 * a cookie that outlives the browser session; without, the cookie ends
 * when the browser closes.
 */
#define SHOAL_REMEMBER	0x1
int	shoal_user_name_valid(const char *);
int	shoal_password_valid(const char *);
enum shoal_status shoal_signup(struct shoal_req *, const char *name,
    const char *password, unsigned flags) __attribute__((warn_unused_result));
enum shoal_status shoal_login(struct shoal_req *, const char *name,
    const char *password, unsigned flags) __attribute__((warn_unused_result));
enum shoal_status shoal_logout(struct shoal_req *)
    __attribute__((warn_unused_result));

/*
 * The account pages, ready made: sign-up and sign-in forms (GET) and what
 * they post (POST), and sign-out (POST). The forms are the templates
 * "login" and "signup" (fields username, password, remember=1, csrf; the
 * view sets title, error and username), the app's own when it has them,
 * else the tier's; after a success, a flash message and a redirect to "/".
 * An app puts SHOAL_AUTH_ROUTES in its route table.
 */
void	shoal_login_page(struct shoal_req *);
void	shoal_login_post(struct shoal_req *);
void	shoal_signup_page(struct shoal_req *);
void	shoal_signup_post(struct shoal_req *);
void	shoal_logout_post(struct shoal_req *);
#define SHOAL_AUTH_ROUTES \
	{ SHOAL_GET,	"/login",	shoal_login_page }, \
	{ SHOAL_POST,	"/login",	shoal_login_post }, \
	{ SHOAL_GET,	"/signup",	shoal_signup_page }, \
	{ SHOAL_POST,	"/signup",	shoal_signup_post }, \
	{ SHOAL_POST,	"/logout",	shoal_logout_post }

/* The signed-in user's sessions, to show and to end. */
struct shoal_session_info {
	const char	*id;		/* a hash of the session ID, not the ID */
	int64_t		 created;	/* unix seconds */
	int64_t		 last_seen;	/* unix seconds, to within a minute */
	const char	*user_agent;
	int		 current;	/* 1 for the session of this request */
	int		 remembered;	/* 1 for a "remember me" session */
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

/*
 * A one-time message for the next page this browser shows, typically set
 * before a redirect ("Item added"): the layout shows it once as {{flash}}
 * (and {{flash_level}}: "info", "success" or "error"). It travels in a
 * signed cookie, so it costs no Redis command; at most 200 bytes.
 */
enum shoal_flash_level {
	SHOAL_FLASH_INFO = 0,
	SHOAL_FLASH_SUCCESS,
	SHOAL_FLASH_ERROR,
};
void	shoal_flash(struct shoal_req *, enum shoal_flash_level, const char *);

/*
 * A view: the data a template renders (see template.h for the syntax). A
 * view, its items and the text shoal_set_int makes live until the request
 * ends. shoal_set and shoal_set_html keep the pointers they are given, names
 * and values alike, not copies: pass string constants or what shoal_alloc,
 * shoal_strdup or shoal_printf returned, never a buffer on the stack. A
 * NULL value is "". Setting a name again replaces what it was bound to.
 */
struct shoal_view;

struct shoal_view *shoal_view(struct shoal_req *);
void	shoal_set(struct shoal_view *, const char *name, const char *value);
void	shoal_set_int(struct shoal_view *, const char *name, long long);
/* HTML the app vouches for: {{&name}} writes it unescaped ({{name}} still
 * escapes it). Never pass text that came from a user. */
void	shoal_set_html(struct shoal_view *, const char *name, const char *html);
/* Appends an item to the list `list` (made on the first call) and returns
 * the item's view, to fill; {{#list}}..{{/list}} renders once per item. */
struct shoal_view *shoal_add(struct shoal_view *, const char *list);

/*
 * A JSON document, written call by call; the writer escapes strings (also
 * < > & U+2028 U+2029, so the JSON is safe inside HTML) and places commas.
 * Inside an object every call takes a key; at the top level and inside an
 * array the key is NULL. A misuse (a key where none belongs or none where
 * one must be, an end with nothing open, more than 16 levels, a string or
 * key that is not valid UTF-8, more than one top-level value) is remembered
 * and makes shoal_json_send answer 500 and log why; the calls after it do
 * nothing. The writer lives until the request ends.
 */
struct shoal_json;

struct shoal_json *shoal_json_new(struct shoal_req *);
void	shoal_json_object(struct shoal_json *, const char *key);
void	shoal_json_array(struct shoal_json *, const char *key);
void	shoal_json_end(struct shoal_json *);
/* A NULL value writes null. */
void	shoal_json_str(struct shoal_json *, const char *key, const char *value);
void	shoal_json_int(struct shoal_json *, const char *key, long long);
void	shoal_json_bool(struct shoal_json *, const char *key, int);
/* 1 when s is well-formed UTF-8, as every JSON string must be: check text
 * from outside before keeping it for a JSON answer. */
int	shoal_utf8_valid(const char *s);

/*
 * The database (SHOAL_DB; docs/data.md). Statements are parameterised
 * only: values go in params as text ($1, $2, ...), never into the SQL.
 * Results are copied out of libpq into the request's memory: rows of text
 * values, NULL for SQL NULL. A failure is a status for shoal_fail:
 * SHOAL_UNAVAILABLE when the database is down or too slow (503 with
 * Retry-After), SHOAL_TAKEN for a unique violation, SHOAL_CONFLICT for a
 * serialization failure (try again), SHOAL_INTERNAL for anything else
 * (logged).
 */
struct shoal_rows {
	int		 nrows;
	int		 ncols;
	const char	**cols;		/* the columns' names */
	const char	**v;		/* nrows * ncols values, row by row */
};

/* The value at row, col (NULL for SQL NULL or outside the result); as a
 * number (0 for NULL or not a number). */
const char	*shoal_row_str(const struct shoal_rows *, int row, int col);
int64_t		 shoal_row_int(const struct shoal_rows *, int row, int col);

/*
 * A read, on a replica when it has replayed this session's last write
 * (read-your-writes: a user sees their own writes, whichever worker and
 * replica serve the next page), else on the primary. One statement, in a
 * read-only transaction.
 */
enum shoal_status shoal_db_read(struct shoal_req *, const char *sql,
    int nparams, const char *const *params, struct shoal_rows **out)
    __attribute__((warn_unused_result));

/*
 * A read through the cache (cache-aside in Redis): the rows kept under
 * key (1-64 bytes of printable ASCII, the app's name for them) when
 * there are any, else the rows shoal_db_read returns, kept for ttl_s
 * seconds (1-86400). Concurrent misses of one key read the database once:
 * the others wait for that read (up to about a second) and take its rows.
 * Results over 256 kB are not kept.
 */
enum shoal_status shoal_db_cached(struct shoal_req *, const char *key,
    int ttl_s, const char *sql, int nparams, const char *const *params,
    struct shoal_rows **out) __attribute__((warn_unused_result));
/* Drops the cache entry key: call it after the write that changes what
 * it holds has committed. */
enum shoal_status shoal_cache_forget(struct shoal_req *, const char *key)
    __attribute__((warn_unused_result));

/*
 * Writes: one transaction on the primary. shoal_tx_begin, any number of
 * shoal_tx_query (out may be NULL), then shoal_tx_commit; after a failed
 * query, or to give up, shoal_tx_rollback (a failed query leaves the
 * transaction only good for that). A transaction left open when the
 * request ends is rolled back. A commit records the write's position in
 * the session (when there is one), for read-your-writes.
 */
struct shoal_tx;
enum shoal_status shoal_tx_begin(struct shoal_req *, struct shoal_tx **)
    __attribute__((warn_unused_result));
enum shoal_status shoal_tx_query(struct shoal_tx *, const char *sql,
    int nparams, const char *const *params, struct shoal_rows **out)
    __attribute__((warn_unused_result));
enum shoal_status shoal_tx_commit(struct shoal_tx *)
    __attribute__((warn_unused_result));
void	shoal_tx_rollback(struct shoal_tx *);

/*
 * Responses: call exactly one. shoal_render sends the page `template`
 * rendered from view (NULL for none), inside the layout.
 */
void	shoal_render(struct shoal_req *, int status, const char *template,
	    const struct shoal_view *view);
void	shoal_json_send(struct shoal_req *, int status, struct shoal_json *);
void	shoal_redirect(struct shoal_req *, const char *location);
/* A fixed body, written as it is (the tier's health checks). */
void	shoal_json(struct shoal_req *, int status, const char *body);
void	shoal_error(struct shoal_req *, int status, const char *reason);
/* The reply for a status the tier itself chose (503 when Redis is down...). */
void	shoal_fail(struct shoal_req *, enum shoal_status);

#endif
