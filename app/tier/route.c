/*
 * route.c - route patterns (see route.h): checking them at start, matching
 * a path against one, decoding a text parameter.
 */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "route.h"

/* One segment of a pattern, split up. */
struct seg {
	const char	*p;		/* the segment, len bytes */
	size_t		 len;
	int		 param;		/* a whole "{...}" */
	const char	*name;		/* inside the braces, up to ':' */
	size_t		 name_len;
	const char	*type;		/* after ':', or NULL */
	size_t		 type_len;
};

const char *
route_strerror(enum route_error e)
{
	switch (e) {
	case ROUTE_OK:
		return "ok";
	case ROUTE_BAD_ENCODING:
		return http_strerror(HTTP_BAD_ENCODING);
	case ROUTE_BAD_BYTE:
		return "encoded slash or NUL in a path parameter";
	}
	return "unknown error";
}

/* Splits the segment at s (up to the next '/' or the end). */
static void
seg_split(const char *s, struct seg *g)
{
	const char	*colon;

	memset(g, 0, sizeof *g);
	g->p = s;
	g->len = strcspn(s, "/");
	if (g->len < 2 || s[0] != '{' || s[g->len - 1] != '}')
		return;
	g->param = 1;
	g->name = s + 1;
	g->name_len = g->len - 2;
	if ((colon = memchr(g->name, ':', g->name_len)) != NULL) {
		g->type = colon + 1;
		g->type_len = g->name_len - (size_t)(g->type - g->name);
		g->name_len = (size_t)(colon - g->name);
	}
}

static int
seg_is_int(const struct seg *g)
{
	return g->type != NULL && g->type_len == 3 &&
	    memcmp(g->type, "int", 3) == 0;
}

/* A decimal integer as route.h says: digits, no leading zero, int64_t. */
static int
parse_int(const char *s, size_t len, int64_t *out)
{
	int64_t	 n = 0;
	size_t	 i;
	int	 d;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = s[i] - '0';
		if (n > (INT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/*
 * What a literal segment may hold: RFC 3986's pchar without pct-encoded,
 * and without '*', which would read as a wildcard and is not one.
 */
static int
literal_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-._~!$&'()+,;=:@", c) != NULL);
}

static int
name_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int
check_literal(const struct seg *g, char *err, size_t errsz)
{
	size_t	 i;

	if ((g->len == 1 && g->p[0] == '.') ||
	    (g->len == 2 && memcmp(g->p, "..", 2) == 0)) {
		snprintf(err, errsz, "a segment is \".\" or \"..\"");
		return -1;
	}
	for (i = 0; i < g->len; i++) {
		if (g->p[i] == '{' || g->p[i] == '}') {
			snprintf(err, errsz, "braces must enclose a whole "
			    "segment: {name} or {name:int}");
			return -1;
		}
		if (!literal_byte((unsigned char)g->p[i])) {
			snprintf(err, errsz, "byte 0x%02x in a literal "
			    "segment (only A-Z a-z 0-9 -._~!$&'()+,;=:@)",
			    (unsigned char)g->p[i]);
			return -1;
		}
	}
	return 0;
}

int
route_pattern_check(const char *pattern, char *err, size_t errsz)
{
	struct seg	 g, params[ROUTE_MAX_PARAMS];
	const char	*s = pattern;
	size_t		 n = 0, i;

	if (s[0] != '/') {
		snprintf(err, errsz, "does not start with /");
		return -1;
	}
	if (strcmp(s, "/") == 0)
		return 0;
	while (*s == '/') {
		seg_split(++s, &g);
		if (g.len == 0) {
			snprintf(err, errsz, "empty segment (a trailing slash, "
			    "or two in a row)");
			return -1;
		}
		s += g.len;
		if (!g.param) {
			if (check_literal(&g, err, errsz) != 0)
				return -1;
			continue;
		}
		if (g.name_len > ROUTE_MAX_NAME || !name_ok(g.name,
		    g.name_len)) {
			snprintf(err, errsz, "parameter name \"%.*s\" is not "
			    "1 to %d of [a-z_][a-z0-9_]*", (int)(g.name_len >
			    ROUTE_MAX_NAME ? ROUTE_MAX_NAME : g.name_len),
			    g.name, ROUTE_MAX_NAME);
			return -1;
		}
		if (g.type != NULL && !seg_is_int(&g)) {
			snprintf(err, errsz, "parameter %.*s: unknown type "
			    "\"%.*s\" (only int)", (int)g.name_len, g.name,
			    (int)(g.type_len > 32 ? 32 : g.type_len), g.type);
			return -1;
		}
		for (i = 0; i < n; i++)
			if (params[i].name_len == g.name_len &&
			    memcmp(params[i].name, g.name, g.name_len) == 0) {
				snprintf(err, errsz, "parameter %.*s named "
				    "twice", (int)g.name_len, g.name);
				return -1;
			}
		if (n == ROUTE_MAX_PARAMS) {
			snprintf(err, errsz, "more than %d parameters",
			    ROUTE_MAX_PARAMS);
			return -1;
		}
		params[n++] = g;
	}
	return 0;
}

int
route_has_params(const char *pattern)
{
	/* Valid patterns hold braces only around parameters. */
	return strchr(pattern, '{') != NULL;
}

int
route_same(const char *a, const char *b)
{
	struct seg	 ga, gb;

	for (;;) {
		if (*a != *b)
			return 0;
		if (*a == '\0')
			return 1;
		/* Both at a '/' (valid patterns have nothing else here). */
		seg_split(++a, &ga);
		seg_split(++b, &gb);
		if (ga.param != gb.param)
			return 0;
		if (ga.param && seg_is_int(&ga) != seg_is_int(&gb))
			return 0;
		if (!ga.param && (ga.len != gb.len ||
		    memcmp(ga.p, gb.p, ga.len) != 0))
			return 0;
		a += ga.len;
		b += gb.len;
	}
}

int
route_match(const char *pattern, const char *path, struct route_params *m)
{
	struct route_param	*p;
	struct seg		 g;
	size_t			 len;
	int64_t			 num;

	m->n = 0;
	while (*pattern == '/' && *path == '/') {
		seg_split(++pattern, &g);
		path++;
		len = strcspn(path, "/");
		if (!g.param) {
			if (g.len != len || memcmp(g.p, path, len) != 0)
				goto no;
		} else {
			num = 0;
			if (len == 0 || len > ROUTE_MAX_SEGMENT ||
			    m->n == ROUTE_MAX_PARAMS)
				goto no;
			if (seg_is_int(&g) && parse_int(path, len, &num) != 0)
				goto no;
			p = &m->p[m->n++];
			p->name = g.name;
			p->name_len = g.name_len;
			p->value = path;
			p->value_len = len;
			p->is_int = seg_is_int(&g);
			p->num = num;
		}
		pattern += g.len;
		path += len;
	}
	if (*pattern == '\0' && *path == '\0')
		return 1;
no:
	m->n = 0;
	return 0;
}

enum route_error
route_decode(char *out, const char *value, size_t len, size_t *outlen)
{
	long	 n;

	/* In a path '+' is a plus: only forms encode a space as '+'. */
	if ((n = http_percent_decode(out, value, len, 0)) < 0)
		return ROUTE_BAD_ENCODING;
	if (memchr(out, '/', (size_t)n) != NULL ||
	    memchr(out, '\0', (size_t)n) != NULL)
		return ROUTE_BAD_BYTE;
	*outlen = (size_t)n;
	return ROUTE_OK;
}

static const char *
method_name(enum shoal_method m)
{
	switch (m) {
	case SHOAL_GET:
		return "GET";
	case SHOAL_POST:
		return "POST";
	}
	return NULL;
}

int
route_table_check(const struct shoal_route *routes, char *err, size_t errsz)
{
	const struct shoal_route	*rt, *prev;
	const char			*m;
	char				 why[256];

	for (rt = routes; rt->path != NULL; rt++) {
		if ((m = method_name(rt->method)) == NULL) {
			snprintf(err, errsz, "route %s: unknown method %d",
			    rt->path, (int)rt->method);
			return -1;
		}
		if (route_pattern_check(rt->path, why, sizeof why) != 0) {
			snprintf(err, errsz, "route %s %s: %s", m, rt->path,
			    why);
			return -1;
		}
		if (rt->handler == NULL) {
			snprintf(err, errsz, "route %s %s: no handler", m,
			    rt->path);
			return -1;
		}
		for (prev = routes; prev < rt; prev++)
			if (prev->method == rt->method &&
			    route_same(prev->path, rt->path)) {
				snprintf(err, errsz, "route %s %s: the same "
				    "as route %s %s above it", m, rt->path, m,
				    prev->path);
				return -1;
			}
	}
	return 0;
}
