/*
 * reply.c - the responses a handler can send (shoal.h) and the headers every
 * response carries, written out by req_flush().
 */
#include <stdio.h>
#include <string.h>

#include "assets.h"
#include "config.h"
#include "csrf.h"
#include "flash.h"
#include "log.h"
#include "reqid.h"
#include "request.h"
#include "template.h"

const char *
req_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static int
begin(struct shoal_req *r, int status, const char *content_type)
{
	if (r->responded) {
		log_event("error", "handler for %s answered twice", r->in.path);
		return -1;
	}
	r->responded = 1;
	r->status = status;
	r->content_type = content_type;
	buf_reset(&r->t->body);
	return 0;
}

/* What every template can use besides its own variables. */
struct page_globals {
	struct shoal_req	*r;
	const char		*content;	/* the page, inside the layout */
	int			 flash_taken;
	const char		*flash;		/* this page's one-time message */
	const char		*flash_level;
};

static int
is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(name, want, len) == 0;
}

static const char *
resolve_global(void *ctx, const char *name, size_t len, int *html)
{
	struct page_globals	*g = ctx;
	const char		*url;

	if (len > 1 && name[0] == '@') {
		/* Listed: the link made at start. Not listed: the plain name. */
		if ((url = assets_url(name + 1, len - 1)) != NULL)
			return url;
		return shoal_printf(g->r, "%s/%.*s", g->r->t->cfg->static_base,
		    (int)len - 1, name + 1);
	}
	if (is(name, len, "static"))
		return g->r->t->cfg->static_base;
	if (is(name, len, "user"))
		return shoal_user(g->r);
	if (is(name, len, "csrf"))	/* made only for pages with a form */
		return shoal_csrf_token(g->r);
	if (is(name, len, "content")) {
		*html = 1;	/* the page, which the tier rendered */
		return g->content;
	}
	if (is(name, len, "flash") || is(name, len, "flash_level")) {
		/* Taken (and cleared) only by a page that shows it. */
		if (!g->flash_taken) {
			g->flash = flash_take(g->r, &g->flash_level);
			g->flash_taken = 1;
		}
		if (g->flash == NULL)
			return NULL;
		return len == 5 ? g->flash : g->flash_level;
	}
	return NULL;
}

void
shoal_render(struct shoal_req *r, int status, const char *name,
    const struct shoal_view *view)
{
	const struct template	*page = templates_find(name);
	const struct template	*layout = templates_find("layout");
	struct page_globals	 g = { r, NULL, 0, NULL, NULL };
	struct buf		*content = &r->t->scratch;

	if (page == NULL) {
		log_event("error", "no template called %s", name);
		shoal_error(r, 500, "internal error");
		return;
	}
	if (begin(r, status, "text/html; charset=utf-8") != 0)
		return;
	r->private_page = 1;
	if (layout == NULL || page == layout) {
		template_render(page, &r->t->body, view, resolve_global, &g);
		return;
	}
	buf_reset(content);
	template_render(page, content, view, resolve_global, &g);
	g.content = buf_cstr(content);
	template_render(layout, &r->t->body, view, resolve_global, &g);
}

void
shoal_redirect(struct shoal_req *r, const char *location)
{
	if (begin(r, 303, "text/plain; charset=utf-8") != 0)
		return;
	r->location = location;
	buf_puts(&r->t->body, "See ");
	buf_puts(&r->t->body, location);
	buf_putc(&r->t->body, '\n');
}

void
shoal_json(struct shoal_req *r, int status, const char *body)
{
	if (begin(r, status, "application/json") != 0)
		return;
	r->private_page = 1;
	buf_puts(&r->t->body, body);
	buf_putc(&r->t->body, '\n');
}

/* Error pages are plain text: the reason is ours, never the input. */
void
shoal_error(struct shoal_req *r, int status, const char *reason)
{
	if (begin(r, status, "text/plain; charset=utf-8") != 0)
		return;
	buf_printf(&r->t->body, "%d %s: %s\n", status, req_status_text(status),
	    reason);
}

void
shoal_fail(struct shoal_req *r, enum shoal_status st)
{
	switch (st) {
	case SHOAL_UNAVAILABLE:
		shoal_error(r, 503, "temporarily unavailable, try again");
		r->extra_header = "Retry-After: 1";
		break;
	case SHOAL_CONFLICT:
		shoal_error(r, 503, "too many concurrent changes, try again");
		r->extra_header = "Retry-After: 1";
		break;
	case SHOAL_BUSY:
		shoal_error(r, 503, "too many sign-ins at once, try again");
		r->extra_header = "Retry-After: 1";
		break;
	case SHOAL_ANONYMOUS:
		shoal_error(r, 401, "sign in first");
		break;
	case SHOAL_REJECT:
		shoal_error(r, 400, "change rejected");
		break;
	case SHOAL_TAKEN:
		shoal_error(r, 409, "name already taken");
		break;
	case SHOAL_BAD_PASSWORD:
		shoal_error(r, 401, "wrong user name or password");
		break;
	case SHOAL_THROTTLED:
		shoal_error(r, 429, "too many attempts, try later");
		r->extra_header = shoal_printf(r, "Retry-After: %lld",
		    (long long)(r->retry_after > 0 ? r->retry_after : 1));
		break;
	case SHOAL_TOO_LARGE:
		shoal_error(r, 413, "too much to keep without an account: "
		    "sign in first");
		break;
	case SHOAL_INTERNAL:
	case SHOAL_OK:
		shoal_error(r, 500, "internal error");
		break;
	}
}

static void
cookie_header(struct shoal_req *r, struct buf *h, const char *name,
    const char *value, long max_age)
{
	buf_printf(h, "Set-Cookie: %s=%s; Path=/; ", name, value);
	if (max_age >= 0)
		buf_printf(h, "Max-Age=%ld; ", max_age);
	buf_printf(h, "HttpOnly; SameSite=Lax%s\r\n",
	    r->t->cfg->cookie_secure ? "; Secure" : "");
}

/*
 * How long the browser keeps a session's cookie: a signed-in session
 * without "remember me" until the browser closes (the record's own idle
 * and absolute limits end it sooner); the others their absolute lifetime.
 */
static long
session_cookie_age(const struct shoal_req *r)
{
	const struct config	*cfg = r->t->cfg;

	switch (r->sid.kind) {
	case SID_GUEST:
		return cfg->guest_max;
	case SID_REMEMBERED:
		return cfg->remember_max;
	default:
		return -1;
	}
}

static void
session_cookies(struct shoal_req *r, struct buf *h)
{
	const struct config	*cfg = r->t->cfg;
	char			 value[SID_COOKIE_MAX + 1];

	if (r->new_cookie && r->state != SESSION_NONE &&
	    sid_encode(&r->sid, r->t->keys, value, sizeof value) == 0)
		cookie_header(r, h, cfg->session_cookie, value,
		    session_cookie_age(r));
	else if (r->clear_cookie)
		cookie_header(r, h, cfg->session_cookie, "", 0);
	if (r->new_nonce != NULL)
		cookie_header(r, h, cfg->csrf_cookie, r->new_nonce,
		    CSRF_COOKIE_MAX_AGE);
	if (r->flash_out != NULL)
		cookie_header(r, h, cfg->flash_cookie, r->flash_out,
		    FLASH_MAX_AGE);
	else if (r->flash_read)
		cookie_header(r, h, cfg->flash_cookie, "", 0);
}

/*
 * Headers on every response, formatted once per thread. The policy allows
 * assets only from the CDN origin, no script at all, and no framing.
 */
static void
common_headers(struct shoal_req *r, struct buf *h)
{
	const struct config	*cfg = r->t->cfg;
	struct buf		*fixed = &r->t->fixed_headers;
	const char		*base = cfg->static_base[0] ? cfg->static_base :
	    "'self'";

	if (fixed->len == 0) {
		buf_printf(fixed, "Content-Security-Policy: default-src 'none'; "
		    "style-src %s; img-src %s; form-action 'self'; "
		    "frame-ancestors 'none'; base-uri 'none'\r\n", base, base);
		buf_puts(fixed, "X-Content-Type-Options: nosniff\r\n"
		    "Referrer-Policy: same-origin\r\n"
		    "Cache-Control: no-store\r\n");
		if (cfg->served_by)
			buf_printf(fixed, "X-Served-By: %s\r\n",
			    log_worker_id());
	}
	buf_put(h, fixed->data, fixed->len);
}

void
req_flush(struct shoal_req *r, req_write_fn write_fn, void *ctx)
{
	struct buf	*h = &r->t->headers;
	struct buf	*b = &r->t->body;

	buf_reset(h);
	buf_puts(h, "Status: ");
	buf_put_uint(h, (unsigned)r->status, 3);
	buf_putc(h, ' ');
	buf_puts(h, req_status_text(r->status));
	buf_puts(h, "\r\nContent-Type: ");
	buf_puts(h, r->content_type ? r->content_type : "text/plain");
	buf_puts(h, "\r\nContent-Length: ");
	buf_put_uint(h, b->len, 1);
	buf_puts(h, "\r\n");
	if (r->location != NULL)
		buf_printf(h, "Location: %s\r\n", r->location);
	if (r->extra_header != NULL)
		buf_printf(h, "%s\r\n", r->extra_header);
	session_cookies(r, h);
	common_headers(r, h);
	buf_printf(h, "X-Request-Id: %s\r\n", reqid_of(r));
	buf_puts(h, "\r\n");
	write_fn(ctx, h->data, h->len);
	r->bytes_out = h->len;
	if (!r->head_only && b->len > 0) {
		write_fn(ctx, b->data, b->len);
		r->bytes_out += b->len;
	}
}
