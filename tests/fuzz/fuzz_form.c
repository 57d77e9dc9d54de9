/*
 * fuzz_form.c - http_parse_form() on any bytes (query strings and form
 * bodies). Properties: the limits hold; every accepted field re-encodes to
 * a form that parses back to the same fields.
 */
#include "arena.h"
#include "fuzz.h"
#include "http.h"

static void
put_encoded(char *out, size_t *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t	 i;

	for (i = 0; i < n; i++) {
		unsigned char	 c = (unsigned char)s[i];

		out[(*o)++] = '%';
		out[(*o)++] = hex[c >> 4];
		out[(*o)++] = hex[c & 15];
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena		 a;
	static int			 ready;
	static struct http_fields	 f, g;
	enum http_error			 e;
	char				*re;
	size_t				 i, o = 0, nlen;

	data = FUZZ_DATA(data, size);
	if (!ready) {
		fuzz_init();
		arena_init(&a);
		ready = 1;
	}
	e = http_parse_form(&f, &a, (const char *)data, size);
	FUZZ_CHECK(http_strerror(e) != NULL);
	if (e != HTTP_OK) {
		FUZZ_CHECK(e == HTTP_BAD_ENCODING || e == HTTP_TOO_MANY ||
		    e == HTTP_NAME_TOO_LONG || e == HTTP_BAD_FIELD ||
		    e == HTTP_NUL_IN_VALUE);
		arena_reset(&a);
		return 0;
	}
	FUZZ_CHECK(f.n <= HTTP_MAX_FIELDS);
	re = arena_alloc(&a, 3 * size + 2 * f.n + 1);
	for (i = 0; i < f.n; i++) {
		const struct http_field	*first;

		nlen = strlen(f.f[i].name);
		FUZZ_CHECK(nlen >= 1 && nlen <= HTTP_MAX_NAME);
		FUZZ_CHECK(f.f[i].value[f.f[i].value_len] == '\0');
		FUZZ_CHECK(strlen(f.f[i].value) == f.f[i].value_len);
		FUZZ_CHECK(f.f[i].value_len <= size);
		/* The first of equal names wins. */
		first = http_field_get(&f, f.f[i].name);
		FUZZ_CHECK(first != NULL && first <= &f.f[i]);
		if (i > 0)
			re[o++] = '&';
		put_encoded(re, &o, f.f[i].name, nlen);
		re[o++] = '=';
		put_encoded(re, &o, f.f[i].value, f.f[i].value_len);
	}
	FUZZ_CHECK(o <= 3 * size + 2 * f.n);
	e = http_parse_form(&g, &a, re, o);
	FUZZ_CHECK(e == HTTP_OK);
	FUZZ_CHECK(g.n == f.n);
	for (i = 0; i < f.n; i++) {
		FUZZ_CHECK(strcmp(g.f[i].name, f.f[i].name) == 0);
		FUZZ_CHECK(g.f[i].value_len == f.f[i].value_len);
		FUZZ_CHECK(memcmp(g.f[i].value, f.f[i].value,
		    f.f[i].value_len) == 0);
	}
	arena_reset(&a);
	return 0;
}
