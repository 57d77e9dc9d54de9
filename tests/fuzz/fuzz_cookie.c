/*
 * fuzz_cookie.c - http_cookie_get() on any Cookie header. The first byte
 * picks a name length n (0-15), the next n bytes are the name, the rest is
 * the header; the names our tier uses are looked up too. Properties: a
 * value found lies inside the header, right after "name=" at the start of
 * a pair, holds no ';' and no trailing space or tab.
 */
#include "fuzz.h"
#include "http.h"

static void
check(const char *h, size_t len, const char *name)
{
	const char	*v = NULL, *p;
	size_t		 vlen = 0, nlen = strlen(name);

	if (!http_cookie_get(h, len, name, &v, &vlen))
		return;
	FUZZ_CHECK(v >= h + nlen + 1 && v + vlen <= h + len);
	FUZZ_CHECK(v[-1] == '=');
	FUZZ_CHECK(memcmp(v - 1 - nlen, name, nlen) == 0);
	p = v - 1 - nlen;
	FUZZ_CHECK(p == h || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t');
	FUZZ_CHECK(memchr(v, ';', vlen) == NULL);
	FUZZ_CHECK(vlen == 0 || (v[vlen - 1] != ' ' && v[vlen - 1] != '\t'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 name[16];
	size_t		 n;
	const char	*h;

	data = FUZZ_DATA(data, size);
	fuzz_init();
	if (size == 0)
		return 0;
	n = data[0] % 16;
	if (n > size - 1)
		n = size - 1;
	memcpy(name, data + 1, n);
	name[n] = '\0';
	h = (const char *)data + 1 + n;
	check(h, size - 1 - n, name);
	check(h, size - 1 - n, "sid");
	check(h, size - 1 - n, "__Host-sid");
	check(h, size - 1 - n, "__Host-sid_csrf");
	return 0;
}
