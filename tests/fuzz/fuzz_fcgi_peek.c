/*
 * fuzz_fcgi_peek.c - fcgi_peek_param() on any bytes, as read with MSG_PEEK
 * from a worker's FastCGI connection. Properties, for HTTP_COOKIE and
 * QUERY_STRING: a value found lies inside the input, right after its name,
 * which comes right after the two lengths (one or four bytes each) that
 * give the name's and the value's; the answer for a prefix of the input is
 * "not found" or the same value at the same place, and bytes added after
 * the input do not change a value found.
 */
#include "fuzz.h"
#include "fcgi_peek.h"

/* Do the w bytes at p (1, or 4 with the top bit set) say length n? */
static int
len_is(const uint8_t *p, size_t w, size_t n)
{
	if (w == 1)
		return p[0] < 0x80 && p[0] == n;
	return (p[0] & 0x80) && (((size_t)(p[0] & 0x7f) << 24) |
	    ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3]) == n;
}

/* Do the lengths nlen and vlen, in either form, end just before name,
 * none of their bytes before lo? */
static int
lengths_before(const uint8_t *lo, const uint8_t *name, size_t nlen,
    size_t vlen)
{
	const uint8_t	*q;
	size_t		 w, u;

	for (w = 1; w <= 4; w += 3) {
		if ((size_t)(name - lo) < w || !len_is(name - w, w, vlen))
			continue;
		q = name - w;
		for (u = 1; u <= 4; u += 3)
			if ((size_t)(q - lo) >= u && len_is(q - u, u, nlen))
				return 1;
	}
	return 0;
}

/* fcgi_peek_param on an exact-size copy of data[0..len-1], extended by
 * extra bytes of 0xff; the value as an offset into the copy. */
static int
peek_copy(const uint8_t *data, size_t len, size_t extra, const char *name,
    size_t *off, size_t *vlen)
{
	uint8_t			*copy;
	const unsigned char	*v = NULL;
	int			 rc;

	if ((copy = malloc(len + extra ? len + extra : 1)) == NULL)
		abort();
	memcpy(copy, data, len);
	memset(copy + len, 0xff, extra);
	rc = fcgi_peek_param(copy, len + extra, name, &v, vlen);
	FUZZ_CHECK(rc == 0 || rc == 1);
	if (rc == 1) {
		FUZZ_CHECK(v >= copy && v <= copy + len + extra);
		FUZZ_CHECK(*vlen <= (size_t)(copy + len + extra - v));
		*off = (size_t)(v - copy);
	}
	free(copy);
	return rc;
}

/* A prefix gives nothing, or the same value. */
static void
check_prefix(const uint8_t *data, size_t len, const char *name, size_t off,
    size_t vlen)
{
	size_t	 o = 0, n = 0;

	if (peek_copy(data, len, 0, name, &o, &n) == 1)
		FUZZ_CHECK(o == off && n == vlen);
}

static void
check(const uint8_t *data, size_t size, const char *name)
{
	const unsigned char	*v = NULL;
	size_t			 n = 0, nlen = strlen(name), off, end, o, m;
	int			 rc;

	rc = fcgi_peek_param(data, size, name, &v, &n);
	FUZZ_CHECK(rc == 0 || rc == 1);
	if (rc == 0)
		return;
	FUZZ_CHECK(v != NULL);
	FUZZ_CHECK(v >= data && v <= data + size);
	FUZZ_CHECK(n <= (size_t)(data + size - v));

	/* The pair: name length, value length, name, value, past the
	 * 8-byte headers of BEGIN_REQUEST and PARAMS at least. */
	FUZZ_CHECK((size_t)(v - data) >= 16 + nlen);
	FUZZ_CHECK(memcmp(v - nlen, name, nlen) == 0);
	FUZZ_CHECK(lengths_before(data + 16, v - nlen, nlen, n));

	off = (size_t)(v - data);
	end = off + n;
	check_prefix(data, end, name, off, n);
	if (end > 0)
		check_prefix(data, end - 1, name, off, n);
	check_prefix(data, size - 1, name, off, n);
	check_prefix(data, off, name, off, n);

	o = m = 0;
	FUZZ_CHECK(peek_copy(data, size, 64, name, &o, &m) == 1);
	FUZZ_CHECK(o == off && m == n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	data = FUZZ_DATA(data, size);
	check(data, size, "HTTP_COOKIE");
	check(data, size, "QUERY_STRING");
	return 0;
}
