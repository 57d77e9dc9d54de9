/*
 * request.c - what a handler can ask about its request (the accessors of
 * shoal.h), the cookie names and the CSRF check.
 */
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "csrf.h"
#include "keyring.h"
#include "request.h"

void
req_init(struct shoal_req *r, struct thread_ctx *t, const struct req_input *in)
{
	memset(r, 0, sizeof *r);
	r->t = t;
	r->in = *in;
	r->status = 0;
}

long long
req_content_length(const char *s)
{
	long long	 n = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || n > (LLONG_MAX - 9) / 10)
			return -2;
		n = n * 10 + (*s - '0');
	}
	return n;
}

const char *
shoal_path(const struct shoal_req *r)
{
	return r->in.path;
}

enum shoal_method
shoal_method(const struct shoal_req *r)
{
	return r->method;
}

enum route_error
req_params_bind(struct shoal_req *r, const struct route_params *m)
{
	struct req_param	*p;
	enum route_error	 e;
	char			*v;
	size_t			 i, len;

	p = arena_calloc(&r->t->arena, m->n, sizeof *p);
	for (i = 0; i < m->n; i++) {
		v = arena_alloc(&r->t->arena, m->p[i].value_len + 1);
		e = route_decode(v, m->p[i].value, m->p[i].value_len, &len);
		if (e != ROUTE_OK)
			return e;
		p[i].name = m->p[i].name;
		p[i].name_len = m->p[i].name_len;
		p[i].value = v;
		p[i].num = m->p[i].num;
	}
	r->params = p;
	r->nparams = m->n;
	return ROUTE_OK;
}

static const struct req_param *
param(const struct shoal_req *r, const char *name)
{
	size_t	 i;

	for (i = 0; i < r->nparams; i++)
		if (strncmp(r->params[i].name, name, r->params[i].name_len) ==
		    0 && name[r->params[i].name_len] == '\0')
			return &r->params[i];
	return NULL;
}

const char *
shoal_param(const struct shoal_req *r, const char *name)
{
	const struct req_param	*p = param(r, name);

	return p ? p->value : NULL;
}

int64_t
shoal_param_int(const struct shoal_req *r, const char *name)
{
	const struct req_param	*p = param(r, name);

	return p ? p->num : 0;
}

static const char *
field(const struct http_fields *f, const char *name)
{
	const struct http_field	*hf = http_field_get(f, name);

	return hf ? hf->value : NULL;
}

const char *
shoal_query(const struct shoal_req *r, const char *name)
{
	return field(&r->query, name);
}

const char *
shoal_form(const struct shoal_req *r, const char *name)
{
	return field(&r->form, name);
}

const char *
shoal_header(const struct shoal_req *r, const char *cgi_name)
{
	return r->in.param ? r->in.param(r->in.param_ctx, cgi_name) : NULL;
}

void *
shoal_alloc(struct shoal_req *r, size_t n)
{
	return arena_alloc(&r->t->arena, n);
}

char *
shoal_strdup(struct shoal_req *r, const char *s)
{
	return arena_strdup(&r->t->arena, s);
}

char *
shoal_printf(struct shoal_req *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = arena_vprintf(&r->t->arena, fmt, ap);
	va_end(ap);
	return s;
}

const char *
shoal_user(const struct shoal_req *r)
{
	return r->state == SESSION_LIVE ? r->session->user : NULL;
}

int64_t
shoal_account_id(const struct shoal_req *r)
{
	return r->state == SESSION_LIVE ? r->session->account_id : 0;
}

int
shoal_guest(const struct shoal_req *r)
{
	return r->state == SESSION_GUEST;
}

/* The anonymous CSRF nonce from its cookie, or NULL. */
static const char *
anon_nonce(const struct shoal_req *r)
{
	const char	*v;
	size_t		 len;

	if (r->new_nonce != NULL)
		return r->new_nonce;
	if (r->in.cookie == NULL ||
	    !http_cookie_get(r->in.cookie, strlen(r->in.cookie),
	    r->t->cfg->csrf_cookie, &v, &len) || len != CSRF_NONCE_LEN)
		return NULL;
	return arena_strndup(&r->t->arena, v, len);
}

const char *
shoal_csrf_token(struct shoal_req *r)
{
	char		 tok[CSRF_TOKEN_LEN + 1], nonce[CSRF_NONCE_LEN + 1];
	const char	*n;
	int		 rc;

	if (r->csrf != NULL)
		return r->csrf;
	if (r->state == SESSION_LIVE)
		rc = csrf_session_token(r->t->keys, &r->sid, tok, sizeof tok);
	else {
		if ((n = anon_nonce(r)) == NULL) {
			csrf_nonce_new(nonce, sizeof nonce);
			n = r->new_nonce = arena_strdup(&r->t->arena, nonce);
		}
		rc = csrf_anon_token(r->t->keys, n, (int64_t)time(NULL), tok,
		    sizeof tok);
	}
	if (rc != 0)
		return "";
	r->csrf = arena_strdup(&r->t->arena, tok);
	return r->csrf;
}

int
req_csrf_check(struct shoal_req *r)
{
	const char	*token = shoal_form(r, "csrf");

	if (token == NULL)
		token = r->in.csrf_header;
	if (token == NULL)
		return -1;
	if (r->state == SESSION_LIVE)
		return csrf_session_check(r->t->keys, &r->sid, token);
	return csrf_anon_check(r->t->keys, anon_nonce(r), token,
	    (int64_t)time(NULL));
}
