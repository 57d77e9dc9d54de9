/*
 * test_fcgi_peek.c - fcgi_peek.h: one parameter of the first FastCGI
 * request in a copy of a connection's bytes. Requests are built here byte
 * by byte as the FastCGI specification lays them out; every call reads an
 * exact-size heap copy, so a read past the end shows under ASan
 * (make SANITIZE=1 unit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fcgi_peek.h"

#define T_BEGIN		1	/* FCGI_BEGIN_REQUEST */
#define T_PARAMS	4
#define T_STDIN		5
#define T_GET_VALUES	9

#define MSG_MAX		(2 * FCGI_PEEK_MAX)
#define NPARAMS(a)	(sizeof(a) / sizeof((a)[0]))

#define COOKIE		"__Host-sid=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdef" \
			    "ghijklmnopqrstuvwxyz0123; theme=dark"

struct msg {
	unsigned char	 b[MSG_MAX];
	size_t		 len;
};

struct param {
	const char	*name, *val;
};

/* What nginx's fastcgi_params and a browser's GET give, less the cookie. */
static const struct param nginx_params[] = {
	{ "QUERY_STRING", "page=2&sort=price" },
	{ "REQUEST_METHOD", "GET" },
	{ "CONTENT_TYPE", "" },
	{ "CONTENT_LENGTH", "" },
	{ "SCRIPT_NAME", "/shop/cart" },
	{ "REQUEST_URI", "/shop/cart?page=2&sort=price" },
	{ "DOCUMENT_URI", "/shop/cart" },
	{ "DOCUMENT_ROOT", "/usr/share/nginx/html" },
	{ "SERVER_PROTOCOL", "HTTP/1.1" },
	{ "REQUEST_SCHEME", "https" },
	{ "GATEWAY_INTERFACE", "CGI/1.1" },
	{ "SERVER_SOFTWARE", "nginx/1.22.1" },
	{ "REMOTE_ADDR", "203.0.113.7" },
	{ "REMOTE_PORT", "51234" },
	{ "SERVER_ADDR", "10.0.0.2" },
	{ "SERVER_PORT", "443" },
	{ "SERVER_NAME", "shop.example" },
	{ "HTTP_HOST", "shop.example" },
	{ "HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) "
	    "Gecko/20100101 Firefox/115.0" },
	{ "HTTP_ACCEPT", "text/html,application/xhtml+xml,application/xml;"
	    "q=0.9,*/*;q=0.8" },
	{ "HTTP_ACCEPT_LANGUAGE", "en-GB,en;q=0.5" },
};

static void
put(struct msg *m, const void *p, size_t n)
{
	assert_true(n <= sizeof m->b - m->len);
	if (n == 0)
		return;		/* p may be NULL */
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put_byte(struct msg *m, unsigned c)
{
	unsigned char	 b = (unsigned char)c;

	put(m, &b, 1);
}

/* A name or value length: one byte below 128 unless wide, else four with
 * the top bit set (any 31-bit value, true or not). */
static void
put_len(struct msg *m, uint32_t n, int wide)
{
	if (n < 128 && !wide) {
		put_byte(m, n);
		return;
	}
	put_byte(m, ((n >> 24) & 0x7f) | 0x80);
	put_byte(m, (n >> 16) & 0xff);
	put_byte(m, (n >> 8) & 0xff);
	put_byte(m, n & 0xff);
}

static void
put_pair(struct msg *m, const char *name, const char *val)
{
	put_len(m, (uint32_t)strlen(name), 0);
	put_len(m, (uint32_t)strlen(val), 0);
	put(m, name, strlen(name));
	put(m, val, strlen(val));
}

/* A record: the header, the content, plen bytes of padding (pad). */
static void
put_record_pad(struct msg *m, unsigned type, unsigned id,
    const unsigned char *c, size_t clen, size_t plen, unsigned pad)
{
	size_t	 i;

	assert_true(clen <= 0xffff && plen <= 0xff);
	put_byte(m, 1);
	put_byte(m, type);
	put_byte(m, id >> 8);
	put_byte(m, id & 0xff);
	put_byte(m, clen >> 8);
	put_byte(m, clen & 0xff);
	put_byte(m, plen);
	put_byte(m, 0);
	put(m, c, clen);
	for (i = 0; i < plen; i++)
		put_byte(m, pad);
}

static void
put_record(struct msg *m, unsigned type, unsigned id,
    const unsigned char *c, size_t clen, size_t plen)
{
	put_record_pad(m, type, id, c, clen, plen, 0);
}

/* nginx pads every record to a multiple of 8 bytes. */
static size_t
pad8(size_t n)
{
	return (8 - n % 8) % 8;
}

/* BEGIN_REQUEST: role responder, keep the connection. */
static void
put_begin(struct msg *m, unsigned id)
{
	static const unsigned char	 body[8] = { 0, 1, 1 };

	put_record(m, T_BEGIN, id, body, sizeof body, 0);
}

/* The end of the parameters and an empty body, as nginx sends them. */
static void
put_end(struct msg *m, unsigned id)
{
	put_record(m, T_PARAMS, id, NULL, 0, 0);
	put_record(m, T_STDIN, id, NULL, 0, 0);
}

/*
 * A GET as nginx sends it: the parameters in one record, the cookie the
 * at-th of them (none when cookie is NULL). *params_end: the offset just
 * past that record's padding.
 */
static void
build_nginx(struct msg *m, const char *cookie, size_t at, size_t *params_end)
{
	struct msg	 c;
	size_t		 i;

	m->len = c.len = 0;
	put_begin(m, 1);
	for (i = 0; i <= NPARAMS(nginx_params); i++) {
		if (cookie != NULL && i == at)
			put_pair(&c, "HTTP_COOKIE", cookie);
		if (i < NPARAMS(nginx_params))
			put_pair(&c, nginx_params[i].name, nginx_params[i].val);
	}
	put_record(m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
	if (params_end != NULL)
		*params_end = m->len;
	put_end(m, 1);
}

/*
 * fcgi_peek_param on an exact-size heap copy of b[0..len-1]. Checks that a
 * value found lies inside the input; gives it as an offset into b.
 */
static int
peek(const unsigned char *b, size_t len, const char *name, size_t *off,
    size_t *vlen)
{
	unsigned char		*copy;
	const unsigned char	*val = NULL;
	int			 rc;

	copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, b, len);
	*vlen = (size_t)-1;
	rc = fcgi_peek_param(copy, len, name, &val, vlen);
	assert_true(rc == 0 || rc == 1);
	if (rc == 1) {
		assert_non_null(val);
		assert_true(val >= copy && val <= copy + len);
		assert_true(*vlen <= (size_t)(copy + len - val));
		*off = (size_t)(val - copy);
	}
	free(copy);
	return rc;
}

static void
expect_cookie(const struct msg *m, const char *want)
{
	size_t	 off, vlen;

	assert_int_equal(peek(m->b, m->len, "HTTP_COOKIE", &off, &vlen), 1);
	assert_int_equal(vlen, strlen(want));
	assert_memory_equal(m->b + off, want, vlen);
}

static void
expect_none(const struct msg *m)
{
	size_t	 off, vlen;

	assert_int_equal(peek(m->b, m->len, "HTTP_COOKIE", &off, &vlen), 0);
}

/*
 * Every prefix of m: not found, or found with exactly want; found from
 * found_from bytes on (the record holding the cookie all there).
 */
static void
cut_everywhere(const struct msg *m, const char *want, size_t found_from)
{
	size_t	 len, off, vlen;
	int	 rc;

	assert_true(found_from <= m->len);
	for (len = 0; len <= m->len; len++) {
		rc = peek(m->b, len, "HTTP_COOKIE", &off, &vlen);
		if (len >= found_from && rc != 1)
			fail_msg("cut at %zu of %zu: not found", len, m->len);
		if (rc == 1 && (vlen != strlen(want) ||
		    memcmp(m->b + off, want, vlen) != 0))
			fail_msg("cut at %zu of %zu: wrong value \"%.*s\"", len,
			    m->len, (int)vlen, (const char *)m->b + off);
	}
}

static void
nginx_request_gives_the_cookie(void **state)
{
	struct msg	 m;
	size_t		 off, vlen;

	(void)state;
	build_nginx(&m, COOKIE, 12, NULL);
	expect_cookie(&m, COOKIE);
	/* The other parameters read the same way, empty ones too. */
	assert_int_equal(peek(m.b, m.len, "REQUEST_URI", &off, &vlen), 1);
	assert_int_equal(vlen, strlen("/shop/cart?page=2&sort=price"));
	assert_memory_equal(m.b + off, "/shop/cart?page=2&sort=price", vlen);
	assert_int_equal(peek(m.b, m.len, "CONTENT_TYPE", &off, &vlen), 1);
	assert_int_equal(vlen, 0);
}

static void
cookie_first_middle_or_last_pair(void **state)
{
	struct msg	 m;
	size_t		 at[] = { 0, NPARAMS(nginx_params) / 2,
			    NPARAMS(nginx_params) };
	size_t		 i;

	(void)state;
	for (i = 0; i < NPARAMS(at); i++) {
		build_nginx(&m, COOKIE, at[i], NULL);
		expect_cookie(&m, COOKIE);
	}
}

/* 300 bytes: the value's length takes four bytes. */
static void
cookie_with_four_byte_length(void **state)
{
	struct msg	 m;
	char		 cookie[301];
	size_t		 i, end;

	(void)state;
	for (i = 0; i < 300; i++)
		cookie[i] = "abcdefghijklmnopqrstuvwxyz0123456789=; "[i % 39];
	cookie[300] = '\0';
	build_nginx(&m, cookie, 5, &end);
	/* 0x80 0x00 0x01 0x2c before the name. */
	assert_non_null(memmem(m.b, m.len, "\x0b\x80\x00\x01\x2cHTTP_COOKIE",
	    16));
	expect_cookie(&m, cookie);
	cut_everywhere(&m, cookie, end);
}

/* Four-byte lengths are allowed below 128 too. */
static void
short_lengths_in_four_bytes(void **state)
{
	struct msg	 m, c;

	(void)state;
	m.len = c.len = 0;
	put_begin(&m, 1);
	put_pair(&c, "REQUEST_METHOD", "GET");
	put_len(&c, 11, 1);
	put_len(&c, 5, 1);
	put(&c, "HTTP_COOKIE", 11);
	put(&c, "sid=x", 5);
	put_record(&m, T_PARAMS, 1, c.b, c.len, 0);
	put_end(&m, 1);
	expect_cookie(&m, "sid=x");
}

static void
nginx_request_cut_at_every_byte(void **state)
{
	struct msg	 m;
	size_t		 at[] = { 0, 9, NPARAMS(nginx_params) };
	size_t		 i, end;

	(void)state;
	for (i = 0; i < NPARAMS(at); i++) {
		build_nginx(&m, COOKIE, at[i], &end);
		cut_everywhere(&m, COOKIE, end);
	}
}

/* The parameters in two records; the cookie pair wholly in the second. */
static void
cookie_in_second_params_record(void **state)
{
	struct msg	 m, c;
	size_t		 i, end;

	(void)state;
	m.len = c.len = 0;
	put_begin(&m, 1);
	for (i = 0; i < 10; i++)
		put_pair(&c, nginx_params[i].name, nginx_params[i].val);
	put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
	c.len = 0;
	for (; i < NPARAMS(nginx_params); i++)
		put_pair(&c, nginx_params[i].name, nginx_params[i].val);
	put_pair(&c, "HTTP_COOKIE", COOKIE);
	put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
	end = m.len;
	put_end(&m, 1);
	expect_cookie(&m, COOKIE);
	cut_everywhere(&m, COOKIE, end);
}

/*
 * The cookie pair cut in two at every byte, the first part ending one
 * PARAMS record and the rest beginning the next: not found (the tier does
 * not join records), and nothing read past either record.
 */
static void
pair_split_across_records(void **state)
{
	struct msg	 m, c, pair;
	char		 big[301];
	const char	*cookies[] = { COOKIE, big };
	size_t		 i, k, j;

	(void)state;
	memset(big, 'q', 300);
	big[300] = '\0';
	for (j = 0; j < NPARAMS(cookies); j++) {
		pair.len = 0;
		put_pair(&pair, "HTTP_COOKIE", cookies[j]);
		for (k = 1; k < pair.len; k++) {
			m.len = c.len = 0;
			put_begin(&m, 1);
			for (i = 0; i < 5; i++)
				put_pair(&c, nginx_params[i].name,
				    nginx_params[i].val);
			put(&c, pair.b, k);
			put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
			c.len = 0;
			put(&c, pair.b + k, pair.len - k);
			for (; i < NPARAMS(nginx_params); i++)
				put_pair(&c, nginx_params[i].name,
				    nginx_params[i].val);
			put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
			put_end(&m, 1);
			expect_none(&m);
		}
	}
	/* The rest, read from the second record's start, makes a whole
	 * cookie pair of its own. */
	pair.len = 0;
	put_pair(&pair, "HTTP_COOKIE", "sid=x; a=\x0b\x04HTTP_COOKIEevil");
	k = pair.len - 17;
	assert_memory_equal(pair.b + k, "\x0b\x04HTTP_COOKIEevil", 17);
	m.len = c.len = 0;
	put_begin(&m, 1);
	put_pair(&c, "REQUEST_METHOD", "GET");
	put(&c, pair.b, k);
	put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
	put_record(&m, T_PARAMS, 1, pair.b + k, pair.len - k, 0);
	put_end(&m, 1);
	expect_none(&m);
}

static void
wrong_version_not_found(void **state)
{
	struct msg	 m;
	size_t		 end;

	(void)state;
	build_nginx(&m, COOKIE, 3, &end);
	expect_cookie(&m, COOKIE);
	m.b[0] = 0;
	expect_none(&m);
	m.b[0] = 2;
	expect_none(&m);
	/* In the PARAMS record (right after the 16 bytes of BEGIN_REQUEST). */
	m.b[0] = 1;
	m.b[16] = 2;
	expect_none(&m);
	m.b[16] = 0;
	expect_none(&m);
}

static void
first_record_not_begin_request(void **state)
{
	struct msg	 m, c;
	unsigned	 first[] = { T_PARAMS, T_STDIN, T_GET_VALUES, 0, 11 };
	size_t		 i;

	(void)state;
	for (i = 0; i < NPARAMS(first); i++) {
		/* BEGIN_REQUEST's type byte changed. */
		build_nginx(&m, COOKIE, 3, NULL);
		m.b[1] = (unsigned char)first[i];
		expect_none(&m);
		/* Another record before BEGIN_REQUEST. */
		m.len = c.len = 0;
		put_pair(&c, "HTTP_COOKIE", "sid=early");
		put_record(&m, first[i], first[i] == T_GET_VALUES ? 0 : 1,
		    c.b, c.len, 0);
		put_begin(&m, 1);
		c.len = 0;
		put_pair(&c, "HTTP_COOKIE", COOKIE);
		put_record(&m, T_PARAMS, 1, c.b, c.len, 0);
		put_end(&m, 1);
		expect_none(&m);
	}
	/* No BEGIN_REQUEST at all. */
	m.len = c.len = 0;
	put_pair(&c, "HTTP_COOKIE", COOKIE);
	put_record(&m, T_PARAMS, 1, c.b, c.len, 0);
	put_end(&m, 1);
	expect_none(&m);
}

/* PARAMS of one request id, read in both bytes. */
static void
params_of_another_request_id(void **state)
{
	struct msg	 m, c;
	static const unsigned	 ids[][2] = {
		{ 1, 2 }, { 1, 0 }, { 0x0201, 0x0101 }, { 0x0201, 0x0200 },
		{ 0x0201, 0x0201 },
	};
	size_t		 i;

	(void)state;
	for (i = 0; i < NPARAMS(ids); i++) {
		m.len = c.len = 0;
		put_begin(&m, ids[i][0]);
		put_pair(&c, "HTTP_COOKIE", COOKIE);
		put_record(&m, T_PARAMS, ids[i][1], c.b, c.len, pad8(c.len));
		put_end(&m, ids[i][1]);
		if (ids[i][0] == ids[i][1])
			expect_cookie(&m, COOKIE);
		else
			expect_none(&m);
	}
	/* The request's own parameters first, then another's. */
	m.len = c.len = 0;
	put_begin(&m, 1);
	put_pair(&c, "REQUEST_METHOD", "GET");
	put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
	c.len = 0;
	put_pair(&c, "HTTP_COOKIE", COOKIE);
	put_record(&m, T_PARAMS, 2, c.b, c.len, pad8(c.len));
	put_end(&m, 1);
	expect_none(&m);
}

static void
no_cookie_param(void **state)
{
	struct msg	 m, c;
	static const char	*near[] = { "HTTP_COOKI", "HTTP_COOKIE2",
				    "http_cookie", "COOKIE", "HTTP_COOKIE ",
				    " HTTP_COOKIE" };
	size_t		 i;

	(void)state;
	build_nginx(&m, NULL, 0, NULL);
	expect_none(&m);
	/* Names close to it, and the name as another parameter's value. */
	m.len = c.len = 0;
	put_begin(&m, 1);
	for (i = 0; i < NPARAMS(near); i++)
		put_pair(&c, near[i], "sid=wrong");
	put_len(&c, 12, 0);		/* "HTTP_COOKIE" and a NUL */
	put_len(&c, 9, 0);
	put(&c, "HTTP_COOKIE\0sid=wrong", 21);
	put_pair(&c, "QUERY_STRING", "HTTP_COOKIE");
	put_pair(&c, "HTTP_X", "\x0b\x05HTTP_COOKIEwrong");
	put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
	put_end(&m, 1);
	expect_none(&m);
	/* Nothing but the end of the parameters. */
	m.len = 0;
	put_begin(&m, 1);
	put_end(&m, 1);
	expect_none(&m);
}

/* Longer and shorter names that share its start come first. */
static void
name_prefix_of_another(void **state)
{
	struct msg	 m, c;

	(void)state;
	m.len = c.len = 0;
	put_begin(&m, 1);
	put_pair(&c, "HTTP_COOKIE2", "sid=wrong2");
	put_pair(&c, "HTTP_COOKI", "sid=wrong1");
	put_pair(&c, "HTTP_COOKIE_X", "sid=wrong3");
	put_pair(&c, "HTTP_COOKIE", "sid=right");
	put_pair(&c, "HTTP_COOKIE3", "sid=wrong4");
	put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
	put_end(&m, 1);
	expect_cookie(&m, "sid=right");
}

/* The first of two, as libfcgi's FCGX_GetParam answers. */
static void
first_of_two_cookie_params(void **state)
{
	struct msg	 m, c;

	(void)state;
	m.len = c.len = 0;
	put_begin(&m, 1);
	put_pair(&c, "HTTP_COOKIE", "sid=first");
	put_pair(&c, "HTTP_COOKIE", "sid=second");
	put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
	put_end(&m, 1);
	expect_cookie(&m, "sid=first");
}

static void
empty_cookie_value_found_empty(void **state)
{
	struct msg	 m;

	(void)state;
	build_nginx(&m, "", 4, NULL);
	expect_cookie(&m, "");
}

/* What follows the empty PARAMS record is not a parameter. */
static void
cookie_after_end_of_params(void **state)
{
	struct msg	 m, c;
	unsigned	 between[] = { T_PARAMS, T_STDIN };
	size_t		 i;

	(void)state;
	for (i = 0; i < NPARAMS(between); i++) {
		m.len = c.len = 0;
		put_begin(&m, 1);
		put_pair(&c, "REQUEST_METHOD", "POST");
		put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
		c.len = 0;
		put(&c, "a=b", between[i] == T_STDIN ? 3 : 0);
		put_record(&m, between[i], 1, c.b, c.len, 0);
		c.len = 0;
		put_pair(&c, "HTTP_COOKIE", COOKIE);
		put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
		put_end(&m, 1);
		expect_none(&m);
	}
	/* A second request's cookie. */
	build_nginx(&m, NULL, 0, NULL);
	put_begin(&m, 3);
	c.len = 0;
	put_pair(&c, "HTTP_COOKIE", COOKIE);
	put_record(&m, T_PARAMS, 3, c.b, c.len, 0);
	put_end(&m, 3);
	expect_none(&m);
}

/*
 * Lengths that run past the record, up to 0x7fffffff (the most four bytes
 * say), and four-byte lengths cut by the record's end: not found, even
 * when the buffer goes on long enough after the record.
 */
static void
lengths_past_the_record(void **state)
{
	struct msg	 m, c, tail;
	static const uint32_t	 huge[] = { 0x7fffffff, 0x7ffffff0, 0x01000000,
				    0x10000, 0xffff, 0x1000, 256, 128 };
	size_t		 i, k, base;

	(void)state;
	tail.len = 0;
	for (i = 0; i < 20; i++)
		put_pair(&tail, "HTTP_X_FILL", "0123456789abcdef0123456789");
	for (i = 0; i < NPARAMS(huge); i++) {
		/* The value's length. */
		m.len = c.len = 0;
		put_begin(&m, 1);
		put_len(&c, 11, 0);
		put_len(&c, huge[i], 1);
		put(&c, "HTTP_COOKIEsid=x", 16);
		put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
		put_record(&m, T_PARAMS, 1, tail.b, tail.len, 0);
		put_end(&m, 1);
		expect_none(&m);
		/* The name's. */
		m.len = c.len = 0;
		put_begin(&m, 1);
		put_len(&c, huge[i], 1);
		put_len(&c, 5, 0);
		put(&c, "HTTP_COOKIEsid=x", 16);
		put_record(&m, T_PARAMS, 1, c.b, c.len, pad8(c.len));
		put_record(&m, T_PARAMS, 1, tail.b, tail.len, 0);
		put_end(&m, 1);
		expect_none(&m);
	}
	/* All bits set: 0xffffffff is 0x7fffffff with the flag. */
	m.len = c.len = 0;
	put_begin(&m, 1);
	put(&c, "\x0b\xff\xff\xff\xffHTTP_COOKIEsid=x", 21);
	put_record(&m, T_PARAMS, 1, c.b, c.len, 0);
	put_end(&m, 1);
	expect_none(&m);
	m.len = c.len = 0;
	put_begin(&m, 1);
	put(&c, "\xff\xff\xff\xff\x05HTTP_COOKIEsid=x", 21);
	put_record(&m, T_PARAMS, 1, c.b, c.len, 0);
	put_end(&m, 1);
	expect_none(&m);
	/*
	 * A four-byte name or value length whose last 1 to 3 bytes are past
	 * the record's content: in its padding, or past the end of the
	 * buffer (a read there shows under ASan).
	 */
	for (k = 1; k <= 3; k++) {
		for (i = 0; i < 2; i++) {
			c.len = 0;
			put_pair(&c, "REQUEST_METHOD", "GET");
			if (i == 1)
				put_len(&c, 11, 0);
			base = c.len;
			put_len(&c, i == 0 ? 11 : 5, 1);
			c.len = base + (4 - k);
			m.len = 0;
			put_begin(&m, 1);
			put_record_pad(&m, T_PARAMS, 1, c.b, c.len, k, 0x0b);
			put_record(&m, T_PARAMS, 1, (const unsigned char *)
			    (i == 0 ? "\x05HTTP_COOKIEsid=x" : "HTTP_COOKIEsid=x"),
			    17 - i, 0);
			put_end(&m, 1);
			expect_none(&m);
			/* The record last in the buffer, no padding. */
			m.len = 0;
			put_begin(&m, 1);
			put_record(&m, T_PARAMS, 1, c.b, c.len, 0);
			expect_none(&m);
		}
	}
}

/* A record longer than the bytes there, by its content or its padding. */
static void
record_longer_than_buffer(void **state)
{
	struct msg	 m;
	size_t		 end;

	(void)state;
	build_nginx(&m, COOKIE, 2, &end);
	m.len = end;
	expect_cookie(&m, COOKIE);
	/* Content length 0xffff. */
	m.b[16 + 4] = 0xff;
	m.b[16 + 5] = 0xff;
	expect_none(&m);
	/* Padding 255 past the end. */
	build_nginx(&m, COOKIE, 2, &end);
	m.len = end;
	m.b[16 + 6] = 0xff;
	expect_none(&m);
	/* BEGIN_REQUEST longer than all. */
	build_nginx(&m, COOKIE, 2, &end);
	m.b[4] = 0xff;
	expect_none(&m);
}

/*
 * The padding is skipped by its length whatever it holds: here a whole
 * PARAMS record with a wrong cookie, then the real one. Reading the
 * padding as records would find the wrong one; not skipping it would
 * find none.
 */
static void
padding_honoured(void **state)
{
	struct msg	 m, c, fake;
	size_t		 end, plen;

	(void)state;
	fake.len = c.len = 0;
	put_pair(&c, "HTTP_COOKIE", "sid=in-padding");
	put_record(&fake, T_PARAMS, 1, c.b, c.len, 0);
	assert_true(fake.len <= 0xff);
	m.len = c.len = 0;
	put_begin(&m, 1);
	put_pair(&c, "REQUEST_METHOD", "GET");
	put_record(&m, T_PARAMS, 1, c.b, c.len, fake.len);
	memcpy(m.b + m.len - fake.len, fake.b, fake.len);
	c.len = 0;
	put_pair(&c, "HTTP_COOKIE", "sid=real");
	put_record(&m, T_PARAMS, 1, c.b, c.len, 5);
	end = m.len;
	put_end(&m, 1);
	expect_cookie(&m, "sid=real");
	cut_everywhere(&m, "sid=real", end);

	/* Every padding length, on BEGIN_REQUEST and on PARAMS. */
	for (plen = 0; plen <= 0xff; plen++) {
		static const unsigned char	 body[8] = { 0, 1, 0 };

		m.len = c.len = 0;
		put_record_pad(&m, T_BEGIN, 1, body, sizeof body, plen, 1);
		put_pair(&c, "REQUEST_METHOD", "GET");
		put_record_pad(&m, T_PARAMS, 1, c.b, c.len, plen, 0x0b);
		c.len = 0;
		put_pair(&c, "HTTP_COOKIE", "sid=real");
		put_record_pad(&m, T_PARAMS, 1, c.b, c.len, plen, 0xff);
		put_end(&m, 1);
		expect_cookie(&m, "sid=real");
	}
}

/* lighttpd: one PARAMS record, no padding, no keep-alive. */
static void
lighttpd_request(void **state)
{
	static const struct param	 lp[] = {
		{ "SERVER_SOFTWARE", "lighttpd/1.4.69" },
		{ "SERVER_NAME", "shop.example" },
		{ "GATEWAY_INTERFACE", "CGI/1.1" },
		{ "SERVER_PORT", "80" },
		{ "SERVER_ADDR", "10.0.0.2" },
		{ "REMOTE_PORT", "40312" },
		{ "REMOTE_ADDR", "198.51.100.4" },
		{ "SCRIPT_NAME", "/cart" },
		{ "PATH_INFO", "" },
		{ "DOCUMENT_ROOT", "/var/www" },
		{ "REQUEST_URI", "/cart" },
		{ "QUERY_STRING", "" },
		{ "REQUEST_METHOD", "POST" },
		{ "REDIRECT_STATUS", "200" },
		{ "SERVER_PROTOCOL", "HTTP/1.1" },
		{ "HTTP_HOST", "shop.example" },
		{ "HTTP_COOKIE", "sid=lighttpd; lang=fr" },
		{ "CONTENT_LENGTH", "11" },
		{ "CONTENT_TYPE", "application/x-www-form-urlencoded" },
	};
	static const unsigned char	 body[8] = { 0, 1, 0 };
	struct msg			 m, c;
	size_t				 i, end;

	(void)state;
	m.len = c.len = 0;
	put_record(&m, T_BEGIN, 1, body, sizeof body, 0);
	for (i = 0; i < NPARAMS(lp); i++)
		put_pair(&c, lp[i].name, lp[i].val);
	put_record(&m, T_PARAMS, 1, c.b, c.len, 0);
	end = m.len;
	put_record(&m, T_PARAMS, 1, NULL, 0, 0);
	put_record(&m, T_STDIN, 1, (const unsigned char *)"qty=2&id=17",
	    11, 0);
	put_record(&m, T_STDIN, 1, NULL, 0, 0);
	expect_cookie(&m, "sid=lighttpd; lang=fr");
	cut_everywhere(&m, "sid=lighttpd; lang=fr", end);
}

/* A cookie near the most that is looked at, found when all there. */
static void
large_cookie_within_peek_max(void **state)
{
	struct msg	 m;
	char		*cookie;
	size_t		 n, end;

	(void)state;
	n = FCGI_PEEK_MAX - 1024;
	assert_non_null(cookie = malloc(n + 1));
	memset(cookie, 'z', n);
	memcpy(cookie, "sid=", 4);
	cookie[n] = '\0';
	build_nginx(&m, cookie, 20, &end);
	assert_true(end <= FCGI_PEEK_MAX);
	expect_cookie(&m, cookie);
	m.len = end - 1;
	expect_none(&m);
	free(cookie);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nginx_request_gives_the_cookie),
		cmocka_unit_test(cookie_first_middle_or_last_pair),
		cmocka_unit_test(cookie_with_four_byte_length),
		cmocka_unit_test(short_lengths_in_four_bytes),
		cmocka_unit_test(nginx_request_cut_at_every_byte),
		cmocka_unit_test(cookie_in_second_params_record),
		cmocka_unit_test(pair_split_across_records),
		cmocka_unit_test(wrong_version_not_found),
		cmocka_unit_test(first_record_not_begin_request),
		cmocka_unit_test(params_of_another_request_id),
		cmocka_unit_test(no_cookie_param),
		cmocka_unit_test(name_prefix_of_another),
		cmocka_unit_test(first_of_two_cookie_params),
		cmocka_unit_test(empty_cookie_value_found_empty),
		cmocka_unit_test(cookie_after_end_of_params),
		cmocka_unit_test(lengths_past_the_record),
		cmocka_unit_test(record_longer_than_buffer),
		cmocka_unit_test(padding_honoured),
		cmocka_unit_test(lighttpd_request),
		cmocka_unit_test(large_cookie_within_peek_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
