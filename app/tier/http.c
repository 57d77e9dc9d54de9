/*
 * http.c - parsers for query strings, form bodies and the Cookie header
 * (see http.h). Inputs are length-delimited and may contain anything.
 */
#include <string.h>

#include "arena.h"
#include "http.h"

const char *
http_strerror(enum http_error e)
{
	switch (e) {
	case HTTP_OK:
		return "ok";
	case HTTP_BAD_ENCODING:
		return "malformed percent-encoding";
	case HTTP_TOO_MANY:
		return "too many fields";
	case HTTP_NAME_TOO_LONG:
		return "field name too long";
	case HTTP_BAD_FIELD:
		return "field without a name";
	case HTTP_NUL_IN_VALUE:
		return "NUL byte in a field value";
	}
	return "unknown error";
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
http_percent_decode(char *out, const char *in, size_t len, int plus_is_space)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (in[i] == '%') {
			if (len - i < 3 || (hi = hexval(in[i + 1])) < 0 ||
			    (lo = hexval(in[i + 2])) < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (in[i] == '+' && plus_is_space)
			out[o++] = ' ';
		else
			out[o++] = in[i];
	}
	out[o] = '\0';
	return (long)o;
}

enum http_error
http_parse_form(struct http_fields *fields, struct arena *a, const char *in,
    size_t len)
{
	const char	*p = in, *end = in + len, *amp, *eq;
	char		*name, *value;
	long		 nlen, vlen;

	fields->n = 0;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if (amp == p) {		/* "a=1&&b=2": skip empty pairs */
			p++;
			continue;
		}
		if (fields->n == HTTP_MAX_FIELDS)
			return HTTP_TOO_MANY;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		if (eq == p)
			return HTTP_BAD_FIELD;
		if ((size_t)(eq - p) > HTTP_MAX_NAME * 3)
			return HTTP_NAME_TOO_LONG;
		name = arena_alloc(a, (size_t)(eq - p) + 1);
		if ((nlen = http_percent_decode(name, p, (size_t)(eq - p), 1)) < 0)
			return HTTP_BAD_ENCODING;
		if (nlen > HTTP_MAX_NAME)
			return HTTP_NAME_TOO_LONG;
		if (nlen == 0 || memchr(name, '\0', (size_t)nlen) != NULL)
			return HTTP_BAD_FIELD;
		if (eq < amp) {
			value = arena_alloc(a, (size_t)(amp - eq));
			vlen = http_percent_decode(value, eq + 1,
			    (size_t)(amp - eq - 1), 1);
			if (vlen < 0)
				return HTTP_BAD_ENCODING;
			if (memchr(value, '\0', (size_t)vlen) != NULL)
				return HTTP_NUL_IN_VALUE;
		} else {
			value = arena_strdup(a, "");
			vlen = 0;
		}
		fields->f[fields->n].name = name;
		fields->f[fields->n].value = value;
		fields->f[fields->n].value_len = (size_t)vlen;
		fields->n++;
		p = amp + (amp < end);
	}
	return HTTP_OK;
}

const struct http_field *
http_field_get(const struct http_fields *fields, const char *name)
{
	size_t	 i;

	for (i = 0; i < fields->n; i++)
		if (strcmp(fields->f[i].name, name) == 0)
			return &fields->f[i];
	return NULL;
}

/*
 * RFC 6265 section 4.2.1: cookie-pair *( ";" SP cookie-pair ). Browsers and
 * proxies are loose about the spaces, so any run of spaces and tabs around
 * a pair is skipped. A pair without '=' is ignored, as browsers do.
 */
int
http_cookie_get(const char *h, size_t len, const char *name,
    const char **value, size_t *vlen)
{
	const char	*p = h, *end = h + len, *semi, *eq, *ve;
	size_t		 nlen = strlen(name);
	int		 pairs = 0;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		semi = memchr(p, ';', (size_t)(end - p));
		if (semi == NULL)
			semi = end;
		if (++pairs > HTTP_MAX_COOKIES)
			return 0;
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq != NULL && (size_t)(eq - p) == nlen &&
		    memcmp(p, name, nlen) == 0) {
			ve = semi;
			while (ve > eq + 1 && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*value = eq + 1;
			*vlen = (size_t)(ve - eq - 1);
			return 1;
		}
		p = semi + (semi < end);
	}
	return 0;
}
