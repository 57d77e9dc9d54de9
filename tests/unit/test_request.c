/*
 * test_request.c - the request path, from req_init through req_handle to
 * req_flush, with the example shop's routes and templates: each response is
 * written into a buffer through the write hook and parsed back into a
 * status, headers and a body.
 *
 * The thread context is built here with no Redis connection at all. An
 * anonymous request (no session cookie, or one whose MAC does not verify)
 * must send no Redis command; one that tried would crash on the missing
 * connection, so every test here that passes also shows that its path
 * stays away from Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "arena.h"
#include "buf.h"
#include "config.h"
#include "csrf.h"
#include "http.h"
#include "jsoncheck.h"
#include "keyring.h"
#include "log.h"
#include "redis.h"
#include "reqid.h"
#include "request.h"
#include "route.h"
#include "sid.h"
#include "template.h"
#include "unit.h"
#include "../../app/example/app.h"

/* The example shop, as its main() gives it to the tier. */
static const struct shoal_app shop = {
	.name = "shop",
	.routes = shop_routes,
	.templates = app_templates,
	.data = &shop__session_data__descriptor,
	.merge = cart_merge,
};

#define RESP_MAX_HEADERS	32
#define PATH_LIMIT		2048	/* router.c: longer is 414 */

#define CSP_DEFAULT	"default-src 'none'; style-src /static; " \
			"img-src /static; form-action 'self'; " \
			"frame-ancestors 'none'; base-uri 'none'"

struct header {
	const char	*name;
	const char	*value;
};

/* One response as req_flush wrote it, and the same split up. */
struct resp {
	struct buf	 out;		/* all the write hook got */
	char		*head;		/* the header lines, split */
	int		 writes;	/* calls of the write hook */
	int		 status;
	size_t		 nh;
	struct header	 h[RESP_MAX_HEADERS];
	const char	*body;		/* into out */
	size_t		 body_len;
	struct buf	 log;		/* what the tier logged */
};

/* A worker thread as worker.c sets one up, less its Redis connections. */
struct tier {
	struct config		 cfg;
	struct keyring		 keys;
	struct thread_ctx	*t;
	struct resp		 rs;	/* the last response */
};

/* What a browser keeps from a page with a form. */
struct browser {
	char	 token[CSRF_TOKEN_LEN + 1];	/* from the form */
	char	 nonce[CSRF_NONCE_LEN + 1];	/* from Set-Cookie */
	char	 cookie[128];		/* the Cookie it sends */
};

static const uint8_t	 key_ids[] = { 1 };

/*
 * While a request runs, stderr (the tier's log) goes to log_file. A request
 * that crashes leaves it there: the teardown puts it back and shows what
 * was written, cmocka's report of the crash included.
 */
static FILE		*log_file;
static int		 stderr_fd = -1;	/* the real stderr */
static int		 redirected;

/* Points stderr at log_file, emptied. */
static void
log_begin(void)
{
	int	 fd = fileno(log_file);

	fflush(stderr);
	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 ||
	    dup2(fd, STDERR_FILENO) < 0) {
		fail_msg("cannot redirect stderr");
		return;
	}
	redirected = 1;
}

/* Puts stderr back; what was logged meanwhile goes into log. */
static void
log_end(struct buf *log)
{
	char	 chunk[4096];
	ssize_t	 n;
	int	 fd = fileno(log_file);

	fflush(stderr);
	if (dup2(stderr_fd, STDERR_FILENO) < 0)
		abort();
	redirected = 0;
	buf_reset(log);
	if (lseek(fd, 0, SEEK_SET) != 0) {
		fail_msg("cannot read the log");
		return;
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_put(log, chunk, (size_t)n);
	(void)buf_cstr(log);	/* NUL-terminated from here on */
}

/*
 * Sets tr up with the tier's defaults plus settings ("NAME", "VALUE", ...,
 * NULL; or NULL for none) and a keyring of one key, id 1.
 */
static int
tier_open(struct tier *tr, const char *const *settings)
{
	char	 err[512] = "";
	size_t	 i;

	memset(tr, 0, sizeof *tr);
	if (unit_clear_env() != 0)
		return -1;
	for (i = 0; settings != NULL && settings[i] != NULL; i += 2)
		if (setenv(settings[i], settings[i + 1], 1) != 0)
			return -1;
	if (config_load(&tr->cfg, err, sizeof err) != 0) {
		print_error("config_load: %s\n", err);
		return -1;
	}
	if (unit_clear_env() != 0 ||
	    unit_keyring(&tr->keys, key_ids, 1) != 0) {
		config_free(&tr->cfg);
		return -1;
	}
	if ((tr->t = calloc(1, sizeof *tr->t)) == NULL) {
		keyring_free(&tr->keys);
		config_free(&tr->cfg);
		return -1;
	}
	tr->t->app = &shop;
	tr->t->cfg = &tr->cfg;
	tr->t->keys = &tr->keys;
	arena_init(&tr->t->arena);
	buf_init(&tr->t->headers);
	buf_init(&tr->t->body);
	buf_init(&tr->t->scratch);
	buf_init(&tr->t->fixed_headers);
	buf_init(&tr->rs.out);
	buf_init(&tr->rs.log);
	return 0;
}

static void
tier_close(struct tier *tr)
{
	arena_free(&tr->t->arena);
	buf_free(&tr->t->headers);
	buf_free(&tr->t->body);
	buf_free(&tr->t->scratch);
	buf_free(&tr->t->fixed_headers);
	free(tr->t);
	buf_free(&tr->rs.out);
	buf_free(&tr->rs.log);
	free(tr->rs.head);
	keyring_free(&tr->keys);
	config_free(&tr->cfg);
	memset(tr, 0, sizeof *tr);
}

static int
setup(void **state)
{
	static struct tier	 tr;

	if (tier_open(&tr, NULL) != 0)
		return -1;
	*state = &tr;
	return 0;
}

static int
teardown(void **state)
{
	struct tier	*tr = *state;

	if (redirected) {
		log_end(&tr->rs.log);
		fprintf(stderr, "stderr of the request that did not finish:\n"
		    "%s", tr->rs.log.data);
	}
	tier_close(tr);
	return 0;
}

static void
capture(void *ctx, const char *data, size_t len)
{
	struct resp	*rs = ctx;

	buf_put(&rs->out, data, len);
	rs->writes++;
}

/*
 * Splits what was written into "Status: NNN Text", "Name: value" lines and
 * the body, failing the test on anything that is not a well-formed CGI
 * response.
 */
static void
resp_parse(struct resp *rs)
{
	const char	*all = buf_cstr(&rs->out), *end;
	char		*line, *next, *colon, *text;
	size_t		 hlen;
	long		 st;

	if ((end = strstr(all, "\r\n\r\n")) == NULL) {
		fail_msg("no blank line after the headers: \"%s\"", all);
		return;
	}
	hlen = (size_t)(end - all) + 2;
	if ((rs->head = malloc(hlen + 1)) == NULL) {
		fail_msg("out of memory");
		return;
	}
	memcpy(rs->head, all, hlen);
	rs->head[hlen] = '\0';
	rs->body = end + 4;
	rs->body_len = rs->out.len - hlen - 2;
	for (line = rs->head; *line != '\0'; line = next + 2) {
		if ((next = strstr(line, "\r\n")) == NULL)
			return;
		*next = '\0';
		if (strpbrk(line, "\r\n") != NULL)
			fail_msg("bare CR or LF in header line \"%s\"", line);
		if ((colon = strstr(line, ": ")) == NULL || colon == line) {
			fail_msg("not a header line: \"%s\"", line);
			return;
		}
		*colon = '\0';
		if (rs->nh == RESP_MAX_HEADERS) {
			fail_msg("more than %d header lines", RESP_MAX_HEADERS);
			return;
		}
		rs->h[rs->nh].name = line;
		rs->h[rs->nh].value = colon + 2;
		rs->nh++;
	}
	if (rs->nh == 0 || strcmp(rs->h[0].name, "Status") != 0) {
		fail_msg("the first line is not Status:");
		return;
	}
	st = strtol(rs->h[0].value, &text, 10);
	if (text != rs->h[0].value + 3 || *text != ' ' || st < 100 ||
	    st > 599) {
		fail_msg("bad status line \"%s\"", rs->h[0].value);
		return;
	}
	rs->status = (int)st;
	assert_string_equal(text + 1, req_status_text(rs->status));
}

static const char *
hdr(const struct resp *rs, const char *name)
{
	size_t	 i;

	for (i = 0; i < rs->nh; i++)
		if (strcasecmp(rs->h[i].name, name) == 0)
			return rs->h[i].value;
	return NULL;
}

static size_t
hdr_count(const struct resp *rs, const char *name)
{
	size_t	 i, n = 0;

	for (i = 0; i < rs->nh; i++)
		if (strcasecmp(rs->h[i].name, name) == 0)
			n++;
	return n;
}

/* The Set-Cookie value that sets cookie, or NULL. */
static const char *
set_cookie(const struct resp *rs, const char *cookie)
{
	size_t	 i, n = strlen(cookie);

	for (i = 0; i < rs->nh; i++)
		if (strcasecmp(rs->h[i].name, "Set-Cookie") == 0 &&
		    strncmp(rs->h[i].value, cookie, n) == 0 &&
		    rs->h[i].value[n] == '=')
			return rs->h[i].value;
	return NULL;
}

static int
logged(const struct resp *rs, const char *s)
{
	return rs->log.data != NULL && strstr(rs->log.data, s) != NULL;
}

/* Nothing a visitor sends as a secret may show in the log. */
static void
assert_log_keeps_secrets(struct resp *rs, const struct req_input *in)
{
	const char	*log = buf_cstr(&rs->log);

	if (in->cookie != NULL && strlen(in->cookie) >= 16 &&
	    strstr(log, in->cookie) != NULL)
		fail_msg("the Cookie header was logged: %s", log);
	if (in->csrf_header != NULL && in->csrf_header[0] != '\0' &&
	    strstr(log, in->csrf_header) != NULL)
		fail_msg("X-CSRF-Token was logged: %s", log);
	if (in->body != NULL && in->body_len >= 16 &&
	    strstr(log, in->body) != NULL)
		fail_msg("the body was logged: %s", log);
}

/*
 * Runs one request the way worker.c's serve() does, once its input is
 * read: req_init, req_handle, req_flush, then the arena is reset.
 */
static const struct resp *
run(struct tier *tr, const struct req_input *in)
{
	struct shoal_req	 r;
	struct resp		*rs = &tr->rs;
	char			 len[32];

	buf_reset(&rs->out);
	free(rs->head);
	rs->head = NULL;
	rs->writes = 0;
	rs->status = 0;
	rs->nh = 0;
	rs->body = NULL;
	rs->body_len = 0;
	log_begin();
	req_init(&r, tr->t, in);
	req_handle(&r);
	req_flush(&r, capture, rs);
	log_end(&rs->log);
	arena_reset(&tr->t->arena);
	resp_parse(rs);
	if (strcmp(in->method, "HEAD") != 0) {
		snprintf(len, sizeof len, "%zu", rs->body_len);
		assert_non_null(hdr(rs, "Content-Length"));
		assert_string_equal(hdr(rs, "Content-Length"), len);
	}
	assert_log_keeps_secrets(rs, in);
	return rs;
}

/* Fails with the body in the message when the status is not want. */
static void
want(const struct resp *rs, int status)
{
	if (rs->status != status)
		fail_msg("status %d, want %d; body: %.*s", rs->status, status,
		    (int)(rs->body_len > 200 ? 200 : rs->body_len),
		    rs->body ? rs->body : "");
}

static int
body_has(const struct resp *rs, const char *s)
{
	return rs->body != NULL && strstr(rs->body, s) != NULL;
}

static struct req_input
request(const char *method, const char *path)
{
	struct req_input	 in;

	memset(&in, 0, sizeof in);
	in.method = method;
	in.path = path;
	return in;
}

static struct req_input
form_post(const char *path, const char *cookie, const char *body)
{
	struct req_input	 in = request("POST", path);

	in.cookie = cookie;
	in.content_type = "application/x-www-form-urlencoded";
	in.body = body;
	in.body_len = strlen(body);
	return in;
}

/* The headers every response carries, each exactly once. */
static void
assert_security_headers(const struct resp *rs, const char *csp)
{
	assert_int_equal(hdr_count(rs, "Content-Security-Policy"), 1);
	assert_string_equal(hdr(rs, "Content-Security-Policy"), csp);
	assert_int_equal(hdr_count(rs, "X-Content-Type-Options"), 1);
	assert_string_equal(hdr(rs, "X-Content-Type-Options"), "nosniff");
	assert_int_equal(hdr_count(rs, "Referrer-Policy"), 1);
	assert_string_equal(hdr(rs, "Referrer-Policy"), "same-origin");
	assert_int_equal(hdr_count(rs, "Cache-Control"), 1);
	assert_string_equal(hdr(rs, "Cache-Control"), "no-store");
	assert_int_equal(hdr_count(rs, "Content-Type"), 1);
	assert_int_equal(hdr_count(rs, "Content-Length"), 1);
}

/* An error page of the tier: plain text "NNN Text: reason". */
static void
assert_error(const struct resp *rs, int status, const char *reason)
{
	char	 want_body[256];

	want(rs, status);
	assert_string_equal(hdr(rs, "Content-Type"),
	    "text/plain; charset=utf-8");
	snprintf(want_body, sizeof want_body, "%d %s: %s\n", status,
	    req_status_text(status), reason);
	assert_string_equal(rs->body, want_body);
	assert_security_headers(rs, CSP_DEFAULT);
}

/* The token of the first form on the page. */
static void
form_token(const struct resp *rs, char token[CSRF_TOKEN_LEN + 1])
{
	static const char	 mark[] = "name=\"csrf\" value=\"";
	const char		*p = strstr(rs->body, mark);
	size_t			 n;

	if (p == NULL) {
		fail_msg("no csrf field in the page");
		return;
	}
	p += sizeof mark - 1;
	n = strcspn(p, "\"");
	assert_int_equal(n, CSRF_TOKEN_LEN);
	memcpy(token, p, n);
	token[n] = '\0';
}

/* GETs a page with a form and keeps what a browser keeps. */
static void
browse(struct tier *tr, const char *path, struct browser *b)
{
	struct req_input	 in = request("GET", path);
	const struct resp	*rs = run(tr, &in);
	const char		*sc, *v;
	size_t			 n;

	want(rs, 200);
	if ((sc = set_cookie(rs, tr->cfg.csrf_cookie)) == NULL) {
		fail_msg("GET %s set no %s cookie", path, tr->cfg.csrf_cookie);
		return;
	}
	v = sc + strlen(tr->cfg.csrf_cookie) + 1;
	n = strcspn(v, ";");
	assert_int_equal(n, CSRF_NONCE_LEN);
	memcpy(b->nonce, v, n);
	b->nonce[n] = '\0';
	form_token(rs, b->token);
	snprintf(b->cookie, sizeof b->cookie, "%s=%s", tr->cfg.csrf_cookie,
	    b->nonce);
}

/* A session cookie in good form, signed by another key under our id 1. */
static void
forged_session_cookie(char out[SID_COOKIE_LEN + 1])
{
	struct keyring	 other;
	struct sid	 s;
	char		 text[256] = "", err[128];

	unit_key_line(text, sizeof text, 1, 1);
	assert_int_equal(keyring_parse(&other, text, err, sizeof err), 0);
	sid_new(&s, &other, SID_USER);
	assert_int_equal(sid_encode(&s, &other, out, SID_COOKIE_LEN + 1), 0);
	keyring_free(&other);
}

/* A Cookie header of exactly len bytes: "c=" and then c up to len. */
static void
cookie_pair(char *s, size_t len, char c)
{
	assert_true(len > 2);
	memcpy(s, "c=", 2);
	memset(s + 2, c, len - 2);
	s[len] = '\0';
}

/* "f0=0&f1=1&..." with n fields, after prefix (which may be ""). */
static void
fields(char *s, size_t sz, const char *prefix, size_t n)
{
	size_t	 i, used;

	snprintf(s, sz, "%s", prefix);
	for (i = 0; i < n; i++) {
		used = strlen(s);
		snprintf(s + used, sz - used, "%sf%zu=%zu",
		    used > 0 ? "&" : "", i, i);
	}
	assert_true(strlen(s) < sz - 1);
}

static void
anonymous_home_status_and_headers(void **state)
{
	struct tier		*tr = *state;
	struct req_input	 in = request("GET", "/");
	const struct resp	*rs = run(tr, &in);

	want(rs, 200);
	assert_string_equal(hdr(rs, "Status"), "200 OK");
	assert_int_equal(rs->writes, 2);	/* the headers, the body */
	assert_string_equal(hdr(rs, "Content-Type"),
	    "text/html; charset=utf-8");
	assert_security_headers(rs, CSP_DEFAULT);
	/* Off unless SHOAL_SERVED_BY=1. */
	assert_null(hdr(rs, "X-Served-By"));
	/* No form for an anonymous visitor here, so no nonce cookie, and no
	 * session cookie to set or clear. */
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
	assert_null(hdr(rs, "Location"));
	assert_true(body_has(rs, "<!DOCTYPE html>"));
	assert_true(body_has(rs, "Welcome to the shoal shop"));
	assert_false(body_has(rs, "Signed in as"));
	assert_false(body_has(rs, "name=\"csrf\""));
	assert_true(body_has(rs, "href=\"/static/style.css\""));
}

/* The policy is formatted once per thread from SHOAL_STATIC_BASE. */
static void
csp_follows_static_base(void **state)
{
	static const char *const cdn[] = {
		"SHOAL_STATIC_BASE", "https://cdn.example.com/a", NULL,
	};
	static const char *const none[] = { "SHOAL_STATIC_BASE", "", NULL };
	struct tier		 tr;
	struct req_input	 in = request("GET", "/");
	const struct resp	*rs;

	(void)state;
	assert_int_equal(tier_open(&tr, cdn), 0);
	rs = run(&tr, &in);
	want(rs, 200);
	assert_security_headers(rs, "default-src 'none'; "
	    "style-src https://cdn.example.com/a; "
	    "img-src https://cdn.example.com/a; form-action 'self'; "
	    "frame-ancestors 'none'; base-uri 'none'");
	assert_true(body_has(rs,
	    "href=\"https://cdn.example.com/a/style.css\""));
	/* The second response of the thread reuses the cached lines. */
	rs = run(&tr, &in);
	assert_string_equal(hdr(rs, "Content-Security-Policy"),
	    "default-src 'none'; style-src https://cdn.example.com/a; "
	    "img-src https://cdn.example.com/a; form-action 'self'; "
	    "frame-ancestors 'none'; base-uri 'none'");
	tier_close(&tr);

	assert_int_equal(tier_open(&tr, none), 0);
	rs = run(&tr, &in);
	want(rs, 200);
	assert_security_headers(rs, "default-src 'none'; style-src 'self'; "
	    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
	    "base-uri 'none'");
	tier_close(&tr);
}

static void
served_by_header_when_asked(void **state)
{
	static const char *const on[] = { "SHOAL_SERVED_BY", "1", NULL };
	struct tier		 tr;
	struct req_input	 in = request("GET", "/nowhere");
	const struct resp	*rs;

	(void)state;
	assert_int_equal(tier_open(&tr, on), 0);
	rs = run(&tr, &in);
	want(rs, 404);
	assert_int_equal(hdr_count(rs, "X-Served-By"), 1);
	assert_string_equal(hdr(rs, "X-Served-By"), log_worker_id());
	tier_close(&tr);
}

/*
 * The nonce cookie comes with the pages that show an anonymous form (and
 * the API that hands out a token), never with the others.
 */
static void
nonce_cookie_only_where_a_token_is_made(void **state)
{
	static const char *const with[] = { "/login", "/signup", "/cart" };
	static const char *const without[] = {
		"/", "/nowhere", "/healthz", "/account/sessions",
		"/account/password",
	};
	struct tier		*tr = *state;
	struct req_input	 in;
	const struct resp	*rs;
	char			 want_cookie[128];
	char			 token[CSRF_TOKEN_LEN + 1];
	const char		*sc, *nonce;
	size_t			 i;

	for (i = 0; i < sizeof with / sizeof with[0]; i++) {
		in = request("GET", with[i]);
		rs = run(tr, &in);
		want(rs, 200);
		assert_int_equal(hdr_count(rs, "Set-Cookie"), 1);
		sc = set_cookie(rs, "__Host-sid_csrf");
		assert_non_null(sc);
		nonce = sc + strlen("__Host-sid_csrf=");
		assert_int_equal(strspn(nonce, unit_b64url_alphabet),
		    CSRF_NONCE_LEN);
		snprintf(want_cookie, sizeof want_cookie, "__Host-sid_csrf="
		    "%.*s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax; Secure",
		    (int)CSRF_NONCE_LEN, nonce, CSRF_COOKIE_MAX_AGE);
		assert_string_equal(sc, want_cookie);
		/* The form's token is made for that very nonce. */
		form_token(rs, token);
		memcpy(want_cookie, nonce, CSRF_NONCE_LEN);
		want_cookie[CSRF_NONCE_LEN] = '\0';
		assert_int_equal(csrf_anon_check(&tr->keys, want_cookie, token,
		    (int64_t)time(NULL)), 0);
	}
	in = request("GET", "/api/session");
	rs = run(tr, &in);
	want(rs, 200);
	assert_string_equal(hdr(rs, "Content-Type"), "application/json");
	assert_non_null(set_cookie(rs, "__Host-sid_csrf"));
	assert_true(body_has(rs, "{\"user\":null,\"cart\":{},\"csrf\":\""));
	assert_true(body_has(rs, "\"expires_in\":0}"));
	for (i = 0; i < sizeof without / sizeof without[0]; i++) {
		in = request("GET", without[i]);
		rs = run(tr, &in);
		if (hdr_count(rs, "Set-Cookie") != 0)
			fail_msg("GET %s: Set-Cookie: %s", without[i],
			    hdr(rs, "Set-Cookie"));
	}
	/* Pages for signed-in visitors send the anonymous one to sign in. */
	in = request("GET", "/account/sessions");
	rs = run(tr, &in);
	want(rs, 303);
	assert_string_equal(hdr(rs, "Location"), "/login");
}

/* A browser that already holds a nonce keeps it: no new cookie. */
static void
nonce_cookie_kept_when_sent(void **state)
{
	struct tier		*tr = *state;
	struct browser		 b;
	struct req_input	 in;
	const struct resp	*rs;
	char			 token[CSRF_TOKEN_LEN + 1];

	browse(tr, "/login", &b);
	in = request("GET", "/signup");
	in.cookie = b.cookie;
	rs = run(tr, &in);
	want(rs, 200);
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
	form_token(rs, token);
	assert_int_equal(csrf_anon_check(&tr->keys, b.nonce, token,
	    (int64_t)time(NULL)), 0);
}

static void
cookies_without_secure_when_cookie_secure_is_0(void **state)
{
	static const char *const plain[] = {
		"SHOAL_COOKIE_SECURE", "0", NULL,
	};
	struct tier		 tr;
	struct browser		 b;
	struct req_input	 in;
	const struct resp	*rs;
	char			 body[256], cookie[256];
	char			 forged[SID_COOKIE_LEN + 1];
	const char		*sc;

	(void)state;
	assert_int_equal(tier_open(&tr, plain), 0);
	assert_string_equal(tr.cfg.session_cookie, "sid");
	assert_string_equal(tr.cfg.csrf_cookie, "sid_csrf");
	browse(&tr, "/login", &b);
	in = request("GET", "/login");
	rs = run(&tr, &in);
	sc = set_cookie(rs, "sid_csrf");
	assert_non_null(sc);
	snprintf(cookie, sizeof cookie, "sid_csrf=%.*s; Path=/; Max-Age=%d; "
	    "HttpOnly; SameSite=Lax", (int)CSRF_NONCE_LEN,
	    sc + strlen("sid_csrf="), CSRF_COOKIE_MAX_AGE);
	assert_string_equal(sc, cookie);

	/* A forged session cookie is expired under the plain name. */
	forged_session_cookie(forged);
	snprintf(cookie, sizeof cookie, "sid=%s; %s", forged, b.cookie);
	snprintf(body, sizeof body, "csrf=%s", b.token);
	in = form_post("/logout", cookie, body);
	rs = run(&tr, &in);
	want(rs, 303);
	assert_string_equal(set_cookie(rs, "sid"),
	    "sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
	/* And the sign-out's flash message, also without Secure. */
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 2);
	sc = set_cookie(rs, "sid_flash");
	assert_non_null(sc);
	assert_null(strstr(sc, "Secure"));

	/* The __Host- names are not ours here. */
	snprintf(cookie, sizeof cookie, "__Host-sid=%s; __Host-sid_csrf=%s",
	    forged, b.nonce);
	in = form_post("/logout", cookie, body);
	rs = run(&tr, &in);
	assert_error(rs, 403, "missing or invalid CSRF token");
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
	tier_close(&tr);
}

static void
head_sends_headers_without_body(void **state)
{
	static const char *const paths[] = { "/", "/login", "/nowhere",
	    "/healthz" };
	struct tier		*tr = *state;
	struct req_input	 in;
	const struct resp	*rs;
	char			 get_len[32], get_type[128];
	size_t			 i;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		in = request("GET", paths[i]);
		rs = run(tr, &in);
		assert_true(rs->body_len > 0);
		snprintf(get_len, sizeof get_len, "%s",
		    hdr(rs, "Content-Length"));
		snprintf(get_type, sizeof get_type, "%s",
		    hdr(rs, "Content-Type"));
		in = request("HEAD", paths[i]);
		rs = run(tr, &in);
		if (rs->body_len != 0)
			fail_msg("HEAD %s sent a body of %zu bytes", paths[i],
			    rs->body_len);
		assert_int_equal(rs->writes, 1);
		/* The length the GET body has. */
		assert_string_equal(hdr(rs, "Content-Length"), get_len);
		assert_string_equal(hdr(rs, "Content-Type"), get_type);
		assert_security_headers(rs, CSP_DEFAULT);
	}
}

/*
 * Every cookie that does not verify: the visitor is anonymous, the cookie
 * is expired, and no Redis command is sent.
 */
static void
bad_session_cookie_is_anonymous_and_cleared(void **state)
{
	struct tier		*tr = *state;
	struct req_input	 in;
	const struct resp	*rs;
	struct keyring		 two;
	struct sid		 s, got;
	struct browser		 b;
	char			 bad[6][SID_COOKIE_LEN + 1], cookie[256];
	char			 body[128];
	size_t			 i;

	forged_session_cookie(bad[0]);
	/* Ours, with one character of the MAC changed. */
	sid_new(&s, &tr->keys, SID_USER);
	assert_int_equal(sid_encode(&s, &tr->keys, bad[1], sizeof bad[1]), 0);
	bad[1][SID_COOKIE_LEN - 10] = unit_b64url_other(
	    bad[1][SID_COOKIE_LEN - 10], 1);
	/* Signed by a key id we do not have. */
	assert_int_equal(unit_keyring(&two, (const uint8_t[]){ 2 }, 1), 0);
	sid_new(&s, &two, SID_USER);
	assert_int_equal(sid_encode(&s, &two, bad[2], sizeof bad[2]), 0);
	keyring_free(&two);
	/* Ours, cut short. */
	sid_new(&s, &tr->keys, SID_USER);
	assert_int_equal(sid_encode(&s, &tr->keys, bad[3], sizeof bad[3]), 0);
	bad[3][SID_COOKIE_LEN - 1] = '\0';
	snprintf(bad[4], sizeof bad[4], "not-a-session");
	bad[5][0] = '\0';

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* A cookie that verified would go to Redis: not here. */
		assert_int_not_equal(sid_verify(&got, &tr->keys, bad[i],
		    strlen(bad[i])), 0);
		snprintf(cookie, sizeof cookie, "__Host-sid=%s", bad[i]);
		in = request("GET", "/");
		in.cookie = cookie;
		rs = run(tr, &in);
		want(rs, 200);
		assert_true(body_has(rs, "Welcome to the shoal shop"));
		assert_false(body_has(rs, "Signed in as"));
		assert_int_equal(hdr_count(rs, "Set-Cookie"), 1);
		assert_string_equal(set_cookie(rs, "__Host-sid"),
		    "__Host-sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; "
		    "Secure");
		assert_security_headers(rs, CSP_DEFAULT);
	}

	/* A POST too: the anonymous token still counts, and the cookie goes. */
	browse(tr, "/login", &b);
	snprintf(cookie, sizeof cookie, "%s; __Host-sid=%s", b.cookie, bad[0]);
	snprintf(body, sizeof body, "csrf=%s", b.token);
	in = form_post("/logout", cookie, body);
	rs = run(tr, &in);
	want(rs, 303);
	assert_string_equal(hdr(rs, "Location"), "/");
	assert_string_equal(set_cookie(rs, "__Host-sid"),
	    "__Host-sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure");
}

/* Someone else's cookie called "sid" is none of ours under __Host-. */
static void
cookie_of_another_name_is_left_alone(void **state)
{
	struct tier		*tr = *state;
	struct req_input	 in = request("GET", "/");
	const struct resp	*rs;
	char			 forged[SID_COOKIE_LEN + 1], cookie[512];

	forged_session_cookie(forged);
	snprintf(cookie, sizeof cookie, "sid=%s; __Host-sidx=%s; "
	    "x__Host-sid=%s", forged, forged, forged);
	in.cookie = cookie;
	rs = run(tr, &in);
	want(rs, 200);
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
}

static void
post_without_csrf_token_is_403(void **state)
{
	struct tier		*tr = *state;
	struct browser		 b;
	struct req_input	 in;
	const struct resp	*rs;

	browse(tr, "/login", &b);
	/* The nonce cookie, but no token. */
	in = form_post("/login", b.cookie, "username=alice&password=password1");
	rs = run(tr, &in);
	assert_error(rs, 403, "missing or invalid CSRF token");
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
	assert_true(logged(rs, "rejected POST /login: missing or invalid CSRF "
	    "token"));
	/* No cookie and no token. */
	in = form_post("/login", NULL, "username=alice&password=password1");
	assert_error(run(tr, &in), 403, "missing or invalid CSRF token");
	/* An empty token. */
	in = form_post("/login", b.cookie, "csrf=&username=alice");
	assert_error(run(tr, &in), 403, "missing or invalid CSRF token");
	/* No body at all, so no Content-Type needed, and still no token. */
	in = request("POST", "/logout");
	in.cookie = b.cookie;
	assert_error(run(tr, &in), 403, "missing or invalid CSRF token");
	/* The JSON API without X-CSRF-Token. */
	in = form_post("/api/cart/add", b.cookie, "item=apple");
	assert_error(run(tr, &in), 403, "missing or invalid CSRF token");
}

/*
 * The JSON API answers with the writer: valid JSON, strings escaped, and a
 * refused item explained as JSON. Items that are not UTF-8 are refused
 * before they could reach a JSON answer (and before any Redis command).
 */
static void
api_answers_are_json(void **state)
{
	struct tier		*tr = *state;
	struct browser		 b;
	struct req_input	 in;
	const struct resp	*rs;
	char			 body[256];
	size_t			 i;
	static const struct {
		const char	*form, *error;
	} bad[] = {
		{ "item=%FF", "item must be UTF-8 text" },
		{ "item=caf%C3", "item must be UTF-8 text" },
		{ "item=%ED%A0%80", "item must be UTF-8 text" },
		{ "item=", "item must be 1 to 64 bytes" },
		{ "item=a%01b", "item must not contain control characters" },
		{ "item=a&qty=0", "qty must be 1 to 999" },
	};

	in = request("GET", "/api/session");
	rs = run(tr, &in);
	want(rs, 200);
	assert_int_equal(jc_json_doc(rs->body, rs->body_len), 0);
	assert_true(body_has(rs, "{\"user\":null,\"cart\":{},\"csrf\":\""));
	assert_true(body_has(rs, ",\"expires_in\":0}\n"));

	browse(tr, "/login", &b);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		in = form_post("/api/cart/add", b.cookie, bad[i].form);
		in.csrf_header = b.token;
		rs = run(tr, &in);
		want(rs, 400);
		assert_string_equal(hdr(rs, "Content-Type"), "application/json");
		assert_int_equal(jc_json_doc(rs->body, rs->body_len), 0);
		snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", bad[i].error);
		assert_string_equal(rs->body, body);
		/* The form refuses the same. */
		snprintf(body, sizeof body, "csrf=%s&%s", b.token, bad[i].form);
		in = form_post("/cart/add", b.cookie, body);
		assert_error(run(tr, &in), 400, bad[i].error);
	}
}

static void
post_with_wrong_csrf_token_is_403(void **state)
{
	struct tier		*tr = *state;
	struct browser		 b, other;
	struct keyring		 two, twin;
	struct req_input	 in;
	char			 body[512], text[256] = "", err[128];
	char			 wrong[6][CSRF_TOKEN_LEN + 1];
	int64_t			 now = (int64_t)time(NULL);
	size_t			 i;

	browse(tr, "/login", &b);
	browse(tr, "/login", &other);
	assert_string_not_equal(b.nonce, other.nonce);
	/* One character of the MAC changed. */
	snprintf(wrong[0], sizeof wrong[0], "%s", b.token);
	wrong[0][30] = unit_b64url_other(wrong[0][30], 5);
	/* Made for another browser's nonce. */
	snprintf(wrong[1], sizeof wrong[1], "%s", other.token);
	/* Made with a key id we do not hold. */
	assert_int_equal(unit_keyring(&two, (const uint8_t[]){ 2 }, 1), 0);
	assert_int_equal(csrf_anon_token(&two, b.nonce, now, wrong[2],
	    sizeof wrong[2]), 0);
	keyring_free(&two);
	/* Made with other key bytes under our id. */
	unit_key_line(text, sizeof text, 1, 1);
	assert_int_equal(keyring_parse(&twin, text, err, sizeof err), 0);
	assert_int_equal(csrf_anon_token(&twin, b.nonce, now, wrong[3],
	    sizeof wrong[3]), 0);
	keyring_free(&twin);
	/* Expired: made CSRF_ANON_LIFETIME ago, so it ends now. */
	assert_int_equal(csrf_anon_token(&tr->keys, b.nonce,
	    now - CSRF_ANON_LIFETIME, wrong[4], sizeof wrong[4]), 0);
	/* One character short. */
	snprintf(wrong[5], sizeof wrong[5], "%.*s", (int)CSRF_TOKEN_LEN - 1,
	    b.token);

	for (i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		snprintf(body, sizeof body, "csrf=%s&username=alice&"
		    "password=password1", wrong[i]);
		in = form_post("/login", b.cookie, body);
		assert_error(run(tr, &in), 403,
		    "missing or invalid CSRF token");
		/* The same in the header. */
		in = form_post("/api/cart/add", b.cookie, "item=apple");
		in.csrf_header = wrong[i];
		assert_error(run(tr, &in), 403,
		    "missing or invalid CSRF token");
	}
	/* The right token without its nonce cookie. */
	snprintf(body, sizeof body, "csrf=%s", b.token);
	in = form_post("/logout", NULL, body);
	assert_error(run(tr, &in), 403, "missing or invalid CSRF token");
	/* A form field wins over the header: a wrong field is not saved by a
	 * right header. */
	snprintf(body, sizeof body, "csrf=%s", wrong[0]);
	in = form_post("/logout", b.cookie, body);
	in.csrf_header = b.token;
	assert_error(run(tr, &in), 403, "missing or invalid CSRF token");
}

/*
 * A token taken from the page and the nonce cookie, as a browser sends
 * them back, passes the check. The handlers chosen stop before Redis: the
 * sign-in form with a user name that cannot exist, sign-out of an
 * anonymous visitor, the API's add for an anonymous visitor.
 */
static void
post_with_valid_csrf_token_passes(void **state)
{
	struct tier		*tr = *state;
	struct browser		 b;
	struct req_input	 in;
	const struct resp	*rs;
	char			 body[256], tok[CSRF_TOKEN_LEN + 1];

	browse(tr, "/login", &b);

	snprintf(body, sizeof body, "csrf=%s&username=No%%21&password="
	    "password1", b.token);
	in = form_post("/login", b.cookie, body);
	rs = run(tr, &in);
	want(rs, 401);
	assert_true(body_has(rs, "Wrong user name or password."));
	assert_true(body_has(rs, "value=\"No!\""));
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);

	snprintf(body, sizeof body, "csrf=%s", b.token);
	in = form_post("/login", b.cookie, body);
	rs = run(tr, &in);
	want(rs, 400);
	assert_true(body_has(rs, "Enter a user name and a password."));

	in = form_post("/logout", b.cookie, body);
	rs = run(tr, &in);
	want(rs, 303);
	assert_string_equal(hdr(rs, "Location"), "/");
	assert_string_equal(rs->body, "See /\n");
	assert_security_headers(rs, CSP_DEFAULT);

	snprintf(body, sizeof body, "csrf=%s&username=x&password=password1",
	    b.token);
	in = form_post("/signup", b.cookie, body);
	rs = run(tr, &in);
	want(rs, 400);
	assert_true(body_has(rs, "A user name is 3 to 32"));

	/* The token in X-CSRF-Token, as the JSON API sends it. */
	in = form_post("/logout", b.cookie, "");
	in.csrf_header = b.token;
	rs = run(tr, &in);
	want(rs, 303);
	assert_string_equal(hdr(rs, "Location"), "/");

	/* Near the end of its lifetime a token still counts. */
	assert_int_equal(csrf_anon_token(&tr->keys, b.nonce,
	    (int64_t)time(NULL) - CSRF_ANON_LIFETIME + 60, tok, sizeof tok),
	    0);
	snprintf(body, sizeof body, "csrf=%s", tok);
	in = form_post("/logout", b.cookie, body);
	want(run(tr, &in), 303);
}

/* The nonce cookie is CSRF_NONCE_LEN characters, no more, no less. */
static void
csrf_nonce_length_limit(void **state)
{
	struct tier		*tr = *state;
	struct req_input	 in;
	char			 nonce[CSRF_NONCE_LEN + 2];
	char			 tok[CSRF_TOKEN_LEN + 1];
	char			 cookie[128], body[128];
	size_t			 len;

	for (len = CSRF_NONCE_LEN - 1; len <= CSRF_NONCE_LEN + 1; len++) {
		memset(nonce, 'A', len);
		nonce[len] = '\0';
		assert_int_equal(csrf_anon_token(&tr->keys, nonce,
		    (int64_t)time(NULL), tok, sizeof tok), 0);
		snprintf(cookie, sizeof cookie, "__Host-sid_csrf=%s", nonce);
		snprintf(body, sizeof body, "csrf=%s", tok);
		in = form_post("/logout", cookie, body);
		if (len == CSRF_NONCE_LEN)
			want(run(tr, &in), 303);
		else
			assert_error(run(tr, &in), 403,
			    "missing or invalid CSRF token");
	}
}

static void
path_length_limit(void **state)
{
	struct tier		*tr = *state;
	static char		 path[PATH_LIMIT + 2];
	struct req_input	 in;

	path[0] = '/';
	memset(path + 1, 'a', PATH_LIMIT - 1);
	path[PATH_LIMIT] = '\0';
	in = request("GET", path);
	assert_error(run(tr, &in), 404, "no such page");
	path[PATH_LIMIT] = 'a';
	path[PATH_LIMIT + 1] = '\0';
	in = request("GET", path);
	assert_error(run(tr, &in), 414, "path too long");
	in = request("POST", path);
	assert_error(run(tr, &in), 414, "path too long");
}

static void
cookie_header_limit(void **state)
{
	static const char *const small[] = {
		"SHOAL_MAX_COOKIE", "256", NULL,
	};
	struct tier		*tr = *state, tr2;
	static char		 cookie[4096 + 2];
	struct req_input	 in = request("GET", "/");
	const struct resp	*rs;

	assert_int_equal(tr->cfg.max_cookie, 4096);
	cookie_pair(cookie, 4096, 'x');
	in.cookie = cookie;
	want(run(tr, &in), 200);
	cookie_pair(cookie, 4097, 'x');
	rs = run(tr, &in);
	assert_error(rs, 400, "cookie header too large");
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);

	/* The limit is the setting's. */
	assert_int_equal(tier_open(&tr2, small), 0);
	cookie_pair(cookie, 256, 'x');
	want(run(&tr2, &in), 200);
	cookie_pair(cookie, 257, 'x');
	assert_error(run(&tr2, &in), 400, "cookie header too large");
	tier_close(&tr2);
}

/* Only the first HTTP_MAX_COOKIES pairs of a Cookie header are looked at. */
static void
cookie_count_limit(void **state)
{
	struct tier		*tr = *state;
	static char		 cookie[2048];
	char			 forged[SID_COOKIE_LEN + 1], body[128];
	struct browser		 b;
	struct req_input	 in;
	const struct resp	*rs;
	size_t			 i, used;

	forged_session_cookie(forged);
	/* Ours as pair number 64, then 65. */
	for (i = HTTP_MAX_COOKIES - 1; i <= HTTP_MAX_COOKIES; i++) {
		fields(cookie, sizeof cookie, "", i);
		/* "f0=0; f1=1; ..." */
		for (used = 0; cookie[used] != '\0'; used++)
			if (cookie[used] == '&')
				cookie[used] = ';';
		used = strlen(cookie);
		snprintf(cookie + used, sizeof cookie - used, "; __Host-sid=%s",
		    forged);
		in = request("GET", "/");
		in.cookie = cookie;
		rs = run(tr, &in);
		want(rs, 200);
		if (i < HTTP_MAX_COOKIES)
			assert_non_null(set_cookie(rs, "__Host-sid"));
		else
			assert_null(set_cookie(rs, "__Host-sid"));
	}
	/* The nonce cookie past the limit is not seen either. */
	browse(tr, "/login", &b);
	snprintf(body, sizeof body, "csrf=%s", b.token);
	for (i = HTTP_MAX_COOKIES - 1; i <= HTTP_MAX_COOKIES; i++) {
		fields(cookie, sizeof cookie, "", i);
		for (used = 0; cookie[used] != '\0'; used++)
			if (cookie[used] == '&')
				cookie[used] = ';';
		used = strlen(cookie);
		snprintf(cookie + used, sizeof cookie - used, "; %s", b.cookie);
		in = form_post("/logout", cookie, body);
		rs = run(tr, &in);
		if (i < HTTP_MAX_COOKIES)
			want(rs, 303);
		else
			assert_error(rs, 403, "missing or invalid CSRF token");
	}
}

/*
 * A body of exactly SHOAL_MAX_BODY bytes goes through. (One byte more is
 * refused by the worker from CONTENT_LENGTH before the body is read, which
 * is not part of req_handle.)
 */
static void
body_at_max_body_is_accepted(void **state)
{
	struct tier		*tr = *state;
	struct browser		 b;
	struct req_input	 in;
	char			*body;
	size_t			 max, used;

	max = (size_t)tr->cfg.max_body;
	assert_int_equal(max, 65536);
	browse(tr, "/login", &b);
	body = malloc(max + 1);
	assert_non_null(body);
	used = (size_t)snprintf(body, max + 1, "csrf=%s&pad=", b.token);
	memset(body + used, 'x', max - used);
	body[max] = '\0';
	in = form_post("/logout", b.cookie, body);
	assert_int_equal(in.body_len, max);
	in.content_length = "65536";
	want(run(tr, &in), 303);
	free(body);
}

/*
 * The worker does not read a body over SHOAL_MAX_BODY: the request path
 * answers from CONTENT_LENGTH alone, before the method, the route or the
 * CSRF token are looked at.
 */
static void
body_over_max_body_is_413(void **state)
{
	struct tier		*tr = *state;
	struct req_input	 in;

	in = form_post("/login", NULL, "");
	in.content_length = "65537";
	assert_error(run(tr, &in), 413, "request body too large");
	in = form_post("/nowhere", NULL, "");
	in.content_length = "99999999999999999";
	assert_error(run(tr, &in), 413, "request body too large");
}

static void
bad_content_length_is_400(void **state)
{
	static const char *const bad[] = {
		"12x", "-1", " 5", "5 ", "0x10", "1e3", "99999999999999999999",
	};
	struct tier		*tr = *state;
	struct req_input	 in;
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		in = form_post("/login", NULL, "");
		in.content_length = bad[i];
		assert_error(run(tr, &in), 400, "bad Content-Length");
	}
	/* A body that ended before its length. */
	in = form_post("/login", NULL, "csrf=x");
	in.content_length = "10";
	assert_error(run(tr, &in), 400, "bad request body");
}

/*
 * With Redis down (a connection to a port where nobody listens), a page
 * that needs it answers 503 with Retry-After, and one that does not still
 * works.
 */
static void
redis_down_is_503_where_redis_is_needed(void **state)
{
	static const char *const settings[] = {
		"SHOAL_REDIS", "127.0.0.1:1", NULL,
	};
	struct tier		 tr;
	struct browser		 b;
	struct req_input	 in;
	const struct resp	*rs;
	char			 body[256];

	(void)state;
	assert_int_equal(tier_open(&tr, settings), 0);
	tr.t->redis = redis_new(&tr.cfg);

	in = request("GET", "/readyz");
	rs = run(&tr, &in);
	want(rs, 503);
	assert_string_equal(hdr(rs, "Retry-After"), "1");
	assert_non_null(strstr(rs->log.data, "redis connect failed"));

	/* Within the reconnect backoff: no connect, nothing more logged. */
	browse(&tr, "/login", &b);
	snprintf(body, sizeof body, "csrf=%s&username=alice&password="
	    "password1", b.token);
	in = form_post("/login", b.cookie, body);
	rs = run(&tr, &in);
	assert_error(rs, 503, "temporarily unavailable, try again");
	assert_string_equal(hdr(rs, "Retry-After"), "1");
	assert_null(strstr(rs->log.data, "redis"));

	in = request("GET", "/");
	want(run(&tr, &in), 200);
	redis_free(tr.t->redis);
	tr.t->redis = NULL;
	tier_close(&tr);
}

static void
malformed_percent_encoding_is_400(void **state)
{
	static const char *const bad[] = {
		"a=%zz", "a=%4", "a=%", "a=1&b=%g1", "%zz=1", "a=%%41",
	};
	struct tier		*tr = *state;
	struct browser		 b;
	struct req_input	 in;
	const struct resp	*rs;
	char			 body[256];
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		in = request("GET", "/");
		in.query = bad[i];
		assert_error(run(tr, &in), 400, "malformed percent-encoding");
	}
	in = request("GET", "/");
	in.query = "a=%41%2b+b&c";
	want(run(tr, &in), 200);

	/* In a form the encoding is checked before the CSRF token. */
	browse(tr, "/login", &b);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(body, sizeof body, "csrf=%s&%s", b.token, bad[i]);
		in = form_post("/logout", b.cookie, body);
		assert_error(run(tr, &in), 400, "malformed percent-encoding");
		in = form_post("/logout", NULL, bad[i]);
		assert_error(run(tr, &in), 400, "malformed percent-encoding");
	}
	snprintf(body, sizeof body, "csrf=%s&a=%%41%%2b+b", b.token);
	in = form_post("/logout", b.cookie, body);
	rs = run(tr, &in);
	want(rs, 303);
}

static void
field_count_limit(void **state)
{
	struct tier		*tr = *state;
	static char		 s[4096];
	char			 prefix[128];
	struct browser		 b;
	struct req_input	 in;

	fields(s, sizeof s, "", HTTP_MAX_FIELDS);
	in = request("GET", "/");
	in.query = s;
	want(run(tr, &in), 200);
	fields(s, sizeof s, "", HTTP_MAX_FIELDS + 1);
	assert_error(run(tr, &in), 400, "too many fields");
	/* Empty pairs are not fields. */
	fields(s, sizeof s, "&&&", HTTP_MAX_FIELDS);
	strcat(s, "&&");
	want(run(tr, &in), 200);

	/* A form: the token and 63 more, then 64 more. */
	browse(tr, "/login", &b);
	snprintf(prefix, sizeof prefix, "csrf=%s", b.token);
	fields(s, sizeof s, prefix, HTTP_MAX_FIELDS - 1);
	in = form_post("/logout", b.cookie, s);
	want(run(tr, &in), 303);
	fields(s, sizeof s, prefix, HTTP_MAX_FIELDS);
	in = form_post("/logout", b.cookie, s);
	assert_error(run(tr, &in), 400, "too many fields");
}

static void
field_name_limit(void **state)
{
	struct tier		*tr = *state;
	char			 s[512];
	struct req_input	 in = request("GET", "/");
	size_t			 i;

	in.query = s;
	memset(s, 'n', HTTP_MAX_NAME);
	snprintf(s + HTTP_MAX_NAME, sizeof s - HTTP_MAX_NAME, "=1");
	want(run(tr, &in), 200);
	memset(s, 'n', HTTP_MAX_NAME + 1);
	snprintf(s + HTTP_MAX_NAME + 1, sizeof s - HTTP_MAX_NAME - 1, "=1");
	assert_error(run(tr, &in), 400, "field name too long");

	/* The limit is on the decoded name: 64 encoded bytes are fine. */
	s[0] = '\0';
	for (i = 0; i < HTTP_MAX_NAME; i++)
		strcat(s, "%6E");
	strcat(s, "=1");
	want(run(tr, &in), 200);
	s[0] = '\0';
	for (i = 0; i < HTTP_MAX_NAME + 1; i++)
		strcat(s, "%6E");
	strcat(s, "=1");
	assert_error(run(tr, &in), 400, "field name too long");

	/* Names must be there and hold no NUL. */
	in.query = "=1";
	assert_error(run(tr, &in), 400, "field without a name");
	in.query = "a=1&=2";
	assert_error(run(tr, &in), 400, "field without a name");
	in.query = "%00=1";
	assert_error(run(tr, &in), 400, "field without a name");
	in.query = "a%00b=1";
	assert_error(run(tr, &in), 400, "field without a name");
}

static void
unknown_path_is_404(void **state)
{
	static const char *const paths[] = {
		"/nowhere", "/login/", "/LOGIN", "//", "/cart/add/x", "",
		"/healthz/", "/static/style.css",
	};
	struct tier		*tr = *state;
	struct req_input	 in;
	const struct resp	*rs;
	size_t			 i;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		in = request("GET", paths[i]);
		rs = run(tr, &in);
		assert_error(rs, 404, "no such page");
		assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
		assert_null(hdr(rs, "Allow"));
	}
	in = form_post("/nowhere", NULL, "a=1");
	assert_error(run(tr, &in), 404, "no such page");
}

/* What main.c checks at start passes for the example shop's table. */
static void
example_routes_pass_the_start_check(void **state)
{
	char	 err[512] = "";

	(void)state;
	if (route_table_check(shop_routes, err, sizeof err) != 0)
		fail_msg("%s", err);
}

static void
no_handler(struct shoal_req *r)
{
	(void)r;
}

/*
 * Which route a path finds: plain paths before patterns wherever they
 * stand, a route of the request's method before 405, the first pattern in
 * table order among those that match.
 */
static void
route_find_prefers_plain_paths_then_table_order(void **state)
{
	static const struct shoal_route routes[] = {
		{ SHOAL_GET,	"/x/{id}",		no_handler },
		{ SHOAL_GET,	"/x/new",		no_handler },
		{ SHOAL_GET,	"/items/{item}",	no_handler },
		{ SHOAL_POST,	"/items/add",		no_handler },
		{ SHOAL_GET,	"/orders/{id:int}",	no_handler },
		{ SHOAL_GET,	"/orders/{name}",	no_handler },
		{ SHOAL_POST,	"/o/{a}/{b:int}",	no_handler },
		{ 0,		NULL,			NULL },
	};
	struct route_params		 pm;
	const struct shoal_route	*rt;
	int				 other;

	(void)state;
	rt = req_route_find(routes, "/x/new", SHOAL_GET, &pm, &other);
	assert_ptr_equal(rt, &routes[1]);
	assert_int_equal(pm.n, 0);
	rt = req_route_find(routes, "/x/old", SHOAL_GET, &pm, &other);
	assert_ptr_equal(rt, &routes[0]);
	assert_int_equal(pm.n, 1);
	/* Sent as it is, a pattern is a path like any other. */
	rt = req_route_find(routes, "/x/{id}", SHOAL_GET, &pm, &other);
	assert_ptr_equal(rt, &routes[0]);
	assert_int_equal(pm.n, 1);
	assert_int_equal(pm.p[0].value_len, 4);
	/* A plain path of another method does not hide a pattern of this
	 * one. */
	rt = req_route_find(routes, "/items/add", SHOAL_GET, &pm, &other);
	assert_ptr_equal(rt, &routes[2]);
	rt = req_route_find(routes, "/items/add", SHOAL_POST, &pm, &other);
	assert_ptr_equal(rt, &routes[3]);
	assert_int_equal(pm.n, 0);
	rt = req_route_find(routes, "/items/pear", SHOAL_POST, &pm, &other);
	assert_null(rt);
	assert_int_equal(other, 1);
	assert_int_equal(pm.n, 0);
	rt = req_route_find(routes, "/x/new", SHOAL_POST, &pm, &other);
	assert_null(rt);
	assert_int_equal(other, 1);
	/* An integer where one fits, text where not. */
	rt = req_route_find(routes, "/orders/12", SHOAL_GET, &pm, &other);
	assert_ptr_equal(rt, &routes[4]);
	assert_true(pm.p[0].num == 12);
	rt = req_route_find(routes, "/orders/012", SHOAL_GET, &pm, &other);
	assert_ptr_equal(rt, &routes[5]);
	assert_int_equal(pm.p[0].is_int, 0);
	/* A path whose integer does not fit is no page: 404, not 405. */
	rt = req_route_find(routes, "/o/a/x", SHOAL_GET, &pm, &other);
	assert_null(rt);
	assert_int_equal(other, 0);
	rt = req_route_find(routes, "/o/a/1", SHOAL_GET, &pm, &other);
	assert_null(rt);
	assert_int_equal(other, 1);
	assert_int_equal(pm.n, 0);
	rt = req_route_find(routes, "/nowhere", SHOAL_GET, &pm, &other);
	assert_null(rt);
	assert_int_equal(other, 0);
}

/* What a handler reads: decoded text, the integer's value, NULL and 0. */
static void
params_reach_the_handler_decoded(void **state)
{
	struct tier		*tr = *state;
	struct req_input	 in = request("GET", "/o/42/green%20apple%2B");
	struct route_params	 pm;
	struct shoal_req	 r;

	req_init(&r, tr->t, &in);
	assert_null(shoal_param(&r, "id"));
	assert_true(shoal_param_int(&r, "id") == 0);
	assert_int_equal(route_match("/o/{id:int}/{note}", in.path, &pm), 1);
	assert_int_equal(req_params_bind(&r, &pm), ROUTE_OK);
	assert_string_equal(shoal_param(&r, "id"), "42");
	assert_true(shoal_param_int(&r, "id") == 42);
	assert_string_equal(shoal_param(&r, "note"), "green apple+");
	assert_true(shoal_param_int(&r, "note") == 0);
	assert_null(shoal_param(&r, "i"));
	assert_null(shoal_param(&r, "idx"));
	assert_null(shoal_param(&r, "nope"));
	assert_null(shoal_param(&r, ""));
	assert_true(shoal_param_int(&r, "nope") == 0);

	req_init(&r, tr->t, &in);
	in.path = "/o/9223372036854775807/a%zz";
	assert_int_equal(route_match("/o/{id:int}/{note}", in.path, &pm), 1);
	assert_int_equal(req_params_bind(&r, &pm), ROUTE_BAD_ENCODING);
	in.path = "/o/1/a%2fb";
	assert_int_equal(route_match("/o/{id:int}/{note}", in.path, &pm), 1);
	assert_int_equal(req_params_bind(&r, &pm), ROUTE_BAD_BYTE);
	in.path = "/o/9223372036854775807/x";
	assert_int_equal(route_match("/o/{id:int}/{note}", in.path, &pm), 1);
	assert_int_equal(req_params_bind(&r, &pm), ROUTE_OK);
	assert_true(shoal_param_int(&r, "id") == INT64_MAX);
	arena_reset(&tr->t->arena);
}

/*
 * GET /cart/items/{item}, by a visitor without a session (no Redis here):
 * the route is found (an empty cart holds no such item), the parameter is
 * checked before the session, and paths of another shape are no page.
 */
static void
cart_item_route_matches_one_segment(void **state)
{
	static const char *const found[] = {
		"/cart/items/apple", "/cart/items/green%20apple",
		"/cart/items/%7Bitem%7D", "/cart/items/{item}",
		"/cart/items/a+b", "/cart/items/0", "/cart/items/.",
	};
	static const char *const none[] = {
		"/cart/items/", "/cart/items", "/cart/items//",
		"/cart/items/apple/", "/cart/items/a/b", "/cart/items//apple",
		"/cart/item/apple", "/Cart/items/apple", "/cart/%69tems/apple",
	};
	static const char *const bad_encoding[] = {
		"/cart/items/%", "/cart/items/%zz", "/cart/items/a%4",
		"/cart/items/%%41",
	};
	static const char *const bad_byte[] = {
		"/cart/items/a%2Fb", "/cart/items/%2f", "/cart/items/a%00",
	};
	static char		 path[64 + ROUTE_MAX_SEGMENT];
	struct tier		*tr = *state;
	struct req_input	 in;
	const struct resp	*rs;
	size_t			 i;

	for (i = 0; i < sizeof found / sizeof found[0]; i++) {
		in = request("GET", found[i]);
		assert_error(run(tr, &in), 404, "no such item in the cart");
	}
	in = request("HEAD", "/cart/items/apple");
	want(run(tr, &in), 404);
	for (i = 0; i < sizeof none / sizeof none[0]; i++) {
		in = request("GET", none[i]);
		assert_error(run(tr, &in), 404, "no such page");
	}
	for (i = 0; i < sizeof bad_encoding / sizeof bad_encoding[0]; i++) {
		in = request("GET", bad_encoding[i]);
		rs = run(tr, &in);
		assert_error(rs, 400, "malformed percent-encoding");
		assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
	}
	for (i = 0; i < sizeof bad_byte / sizeof bad_byte[0]; i++) {
		in = request("GET", bad_byte[i]);
		assert_error(run(tr, &in), 400,
		    "encoded slash or NUL in a path parameter");
	}
	/* The method is looked at before the parameter is decoded. */
	in = form_post("/cart/items/apple", NULL, "a=1");
	rs = run(tr, &in);
	assert_error(rs, 405, "method not allowed");
	assert_string_equal(hdr(rs, "Allow"), "GET, HEAD");
	in = form_post("/cart/items/%zz", NULL, "a=1");
	assert_error(run(tr, &in), 405, "method not allowed");

	/* A segment of up to ROUTE_MAX_SEGMENT bytes as sent. */
	snprintf(path, sizeof path, "/cart/items/");
	memset(path + strlen(path), 'x', ROUTE_MAX_SEGMENT);
	in = request("GET", path);
	assert_error(run(tr, &in), 404, "no such item in the cart");
	strcat(path, "x");
	assert_error(run(tr, &in), 404, "no such page");
}

static void
wrong_method_is_405_with_allow(void **state)
{
	static const char *const methods[] = {
		"PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "get", "Post",
		"",
	};
	struct tier		*tr = *state;
	struct req_input	 in;
	const struct resp	*rs;
	size_t			 i;

	in = request("GET", "/logout");
	rs = run(tr, &in);
	assert_error(rs, 405, "method not allowed");
	assert_int_equal(hdr_count(rs, "Allow"), 1);
	assert_string_equal(hdr(rs, "Allow"), "POST");
	in = request("HEAD", "/cart/add");
	rs = run(tr, &in);
	want(rs, 405);
	assert_string_equal(hdr(rs, "Allow"), "POST");
	assert_int_equal(rs->body_len, 0);
	in = request("POST", "/");
	rs = run(tr, &in);
	assert_error(rs, 405, "method not allowed");
	assert_string_equal(hdr(rs, "Allow"), "GET, HEAD");
	in = form_post("/api/session", NULL, "a=1");
	rs = run(tr, &in);
	assert_error(rs, 405, "method not allowed");
	assert_string_equal(hdr(rs, "Allow"), "GET, HEAD");
	for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		in = request(methods[i], "/");
		rs = run(tr, &in);
		assert_error(rs, 405, "method not allowed");
		assert_string_equal(hdr(rs, "Allow"), "GET, HEAD, POST");
	}
}

static void
wrong_content_type_is_415(void **state)
{
	static const char *const bad[] = {
		NULL, "", "application/json", "text/plain",
		"multipart/form-data; boundary=x",
		"application/x-www-form-urlencodedx",
		"application/x-www-form-urlencoded-x",
		"application/x-www-form-urlencode",
		" application/x-www-form-urlencoded",
	};
	static const char *const good[] = {
		"application/x-www-form-urlencoded",
		"application/x-www-form-urlencoded; charset=utf-8",
		"application/x-www-form-urlencoded;charset=UTF-8",
		"Application/X-WWW-Form-URLEncoded",
	};
	struct tier		*tr = *state;
	struct req_input	 in;
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		in = form_post("/login", NULL, "username=alice");
		in.content_type = bad[i];
		assert_error(run(tr, &in), 415,
		    "expected application/x-www-form-urlencoded");
	}
	/* These reach the CSRF check. */
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		in = form_post("/login", NULL, "username=alice");
		in.content_type = good[i];
		assert_error(run(tr, &in), 403,
		    "missing or invalid CSRF token");
	}
}

static void
healthz_answers_without_a_session(void **state)
{
	struct tier		*tr = *state;
	struct req_input	 in = request("GET", "/healthz");
	const struct resp	*rs;
	char			 forged[SID_COOKIE_LEN + 1], cookie[128];

	rs = run(tr, &in);
	want(rs, 200);
	assert_string_equal(hdr(rs, "Content-Type"), "application/json");
	assert_string_equal(rs->body, "{\"status\":\"ok\"}\n");
	assert_security_headers(rs, CSP_DEFAULT);
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
	/* The session is not looked at, so a bad cookie is not even
	 * cleared. */
	forged_session_cookie(forged);
	snprintf(cookie, sizeof cookie, "__Host-sid=%s", forged);
	in.cookie = cookie;
	rs = run(tr, &in);
	want(rs, 200);
	assert_int_equal(hdr_count(rs, "Set-Cookie"), 0);
}

/* FastCGI parameters of a test: "NAME", "VALUE", ..., NULL. */
static const char *
fake_param(void *ctx, const char *name)
{
	const char *const	*p;

	for (p = ctx; *p != NULL; p += 2)
		if (strcmp(*p, name) == 0)
			return p[1];
	return NULL;
}

static struct req_input
request_with(const char *path, const char *const *params)
{
	struct req_input	 in = request("GET", path);

	in.param = fake_param;
	in.param_ctx = (void *)(uintptr_t)params;
	return in;
}

static int
made_here(const char *id)
{
	size_t	 i;

	if (id == NULL || strlen(id) != 32)
		return 0;
	for (i = 0; i < 32; i++)
		if (strchr("0123456789abcdef", id[i]) == NULL)
			return 0;
	return 1;
}

static void
request_id_from_the_front_is_answered(void **state)
{
	struct tier		*tr = *state;
	static const char *const params[] = { "REQUEST_ID",
	    "0f1e2d3c4b5a69788796a5b4c3d2e1f0", NULL };
	struct req_input	 in = request_with("/healthz", params);
	const struct resp	*rs = run(tr, &in);

	want(rs, 200);
	assert_int_equal(hdr_count(rs, "X-Request-Id"), 1);
	assert_string_equal(hdr(rs, "X-Request-Id"),
	    "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
	/* On every answer, errors too. */
	in = request_with("/no-such-page", params);
	rs = run(tr, &in);
	want(rs, 404);
	assert_string_equal(hdr(rs, "X-Request-Id"),
	    "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
}

static void
request_id_is_made_when_none_fits(void **state)
{
	struct tier		*tr = *state;
	static const char *const none[] = { NULL };
	static const char *const space[] = { "REQUEST_ID", "a b", NULL };
	static const char *const markup[] = { "REQUEST_ID", "<b>", NULL };
	static const char *const empty[] = { "REQUEST_ID", "", NULL };
	static const char *const long_id[] = { "REQUEST_ID",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    NULL };
	const char *const	*bad[] = { none, space, markup, empty, long_id };
	struct req_input	 in;
	const struct resp	*rs;
	char			 first[33] = "";
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		in = request_with("/healthz", bad[i]);
		rs = run(tr, &in);
		want(rs, 200);
		if (!made_here(hdr(rs, "X-Request-Id")))
			fail_msg("case %zu: X-Request-Id %s", i,
			    hdr(rs, "X-Request-Id"));
		/* Random, not a counter or a constant. */
		assert_string_not_equal(first, hdr(rs, "X-Request-Id"));
		snprintf(first, sizeof first, "%s", hdr(rs, "X-Request-Id"));
	}
	/* 64 bytes is the most taken as it is. */
	assert_true(reqid_valid(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_true(reqid_valid("req-1.2_3:4"));
}

static void
request_id_header_is_taken_only_from_a_trusted_proxy(void **state)
{
	struct tier		*tr = *state;
	static const char *const from_client[] = { "REMOTE_ADDR", "127.0.0.1",
	    "HTTP_X_REQUEST_ID", "from-client", "REQUEST_ID", "from-front",
	    NULL };
	static const char *const from_other[] = { "REMOTE_ADDR", "10.1.2.3",
	    "HTTP_X_REQUEST_ID", "from-client", "REQUEST_ID", "from-front",
	    NULL };
	static const char *const bad_header[] = { "REMOTE_ADDR", "127.0.0.1",
	    "HTTP_X_REQUEST_ID", "from client", "REQUEST_ID", "from-front",
	    NULL };
	static const char *const trust[] = { "SHOAL_TRUSTED_PROXIES",
	    "127.0.0.1", NULL };
	struct tier		 trusting;
	struct req_input	 in = request_with("/healthz", from_client);
	const struct resp	*rs;

	/* No trusted proxy: the client's header is not the id. */
	rs = run(tr, &in);
	assert_string_equal(hdr(rs, "X-Request-Id"), "from-front");

	assert_int_equal(tier_open(&trusting, trust), 0);
	rs = run(&trusting, &in);
	assert_string_equal(hdr(rs, "X-Request-Id"), "from-client");
	in = request_with("/healthz", from_other);
	rs = run(&trusting, &in);
	assert_string_equal(hdr(rs, "X-Request-Id"), "from-front");
	in = request_with("/healthz", bad_header);
	rs = run(&trusting, &in);
	assert_string_equal(hdr(rs, "X-Request-Id"), "from-front");
	tier_close(&trusting);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(anonymous_home_status_and_headers),
		T(csp_follows_static_base),
		T(served_by_header_when_asked),
		T(nonce_cookie_only_where_a_token_is_made),
		T(nonce_cookie_kept_when_sent),
		T(cookies_without_secure_when_cookie_secure_is_0),
		T(head_sends_headers_without_body),
		T(bad_session_cookie_is_anonymous_and_cleared),
		T(cookie_of_another_name_is_left_alone),
		T(post_without_csrf_token_is_403),
		T(post_with_wrong_csrf_token_is_403),
		T(api_answers_are_json),
		T(post_with_valid_csrf_token_passes),
		T(csrf_nonce_length_limit),
		T(path_length_limit),
		T(cookie_header_limit),
		T(cookie_count_limit),
		T(body_at_max_body_is_accepted),
		T(body_over_max_body_is_413),
		T(bad_content_length_is_400),
		T(redis_down_is_503_where_redis_is_needed),
		T(malformed_percent_encoding_is_400),
		T(field_count_limit),
		T(field_name_limit),
		T(unknown_path_is_404),
		T(example_routes_pass_the_start_check),
		T(route_find_prefers_plain_paths_then_table_order),
		T(params_reach_the_handler_decoded),
		T(cart_item_route_matches_one_segment),
		T(wrong_method_is_405_with_allow),
		T(wrong_content_type_is_415),
		T(healthz_answers_without_a_session),
		T(request_id_from_the_front_is_answered),
		T(request_id_is_made_when_none_fits),
		T(request_id_header_is_taken_only_from_a_trusted_proxy),
#undef T
	};
	char	 err[256];
	int	 rc;

	if (sodium_init() < 0)
		return 1;
	if (templates_load(app_templates, err, sizeof err) != 0) {
		fprintf(stderr, "templates_load: %s\n", err);
		return 1;
	}
	if ((log_file = tmpfile()) == NULL ||
	    (stderr_fd = dup(STDERR_FILENO)) < 0) {
		perror("tmpfile");
		return 1;
	}
	rc = cmocka_run_group_tests_name("request", tests, NULL, NULL);
	fclose(log_file);
	close(stderr_fd);
	templates_free();
	log_thread_done();
	return rc;
}
