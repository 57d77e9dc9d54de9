/*
 * test_http.c - http.h: percent-decoding, form/query parsing, Cookie header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "arena.h"
#include "http.h"

static struct arena	 a;

static int
setup(void **state)
{
	(void)state;
	arena_init(&a);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	arena_free(&a);
	return 0;
}

static long
pdec(char *out, const char *in, int plus)
{
	return http_percent_decode(out, in, strlen(in), plus);
}

static enum http_error
form(struct http_fields *f, const char *in)
{
	arena_reset(&a);
	return http_parse_form(f, &a, in, strlen(in));
}

static void
percent_decode_valid(void **state)
{
	char	 out[64];

	(void)state;
	assert_int_equal(pdec(out, "", 0), 0);
	assert_string_equal(out, "");
	assert_int_equal(pdec(out, "abc", 0), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(pdec(out, "a%20b", 0), 3);
	assert_string_equal(out, "a b");
	assert_int_equal(pdec(out, "%41%62%3d%3D", 0), 4);
	assert_string_equal(out, "Ab==");
	assert_int_equal(pdec(out, "%e2%82%AC", 0), 3);
	assert_string_equal(out, "\xe2\x82\xac");
	assert_int_equal(pdec(out, "%25%2541", 0), 4);	/* no double decode */
	assert_string_equal(out, "%%41");
	assert_int_equal(pdec(out, "%ff", 0), 1);
	assert_int_equal((unsigned char)out[0], 0xff);
}

static void
percent_decode_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"%zz", "%", "a%", "%4", "ab%4", "%g0", "%0g", "% 41", "%%",
		"%+1", "%-1", "abc%2",
	};
	char	 out[64];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (pdec(out, bad[i], 0) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	/* A % whose digits lie past len is cut off, not read. */
	assert_int_equal(http_percent_decode(out, "a%41", 3, 0), -1);
	assert_int_equal(http_percent_decode(out, "a%41", 2, 0), -1);
}

static void
percent_decode_plus_only_when_asked(void **state)
{
	char	 out[64];

	(void)state;
	assert_int_equal(pdec(out, "a+b++", 1), 5);
	assert_string_equal(out, "a b  ");
	assert_int_equal(pdec(out, "a+b++", 0), 5);
	assert_string_equal(out, "a+b++");
	/* An encoded plus is always a plus. */
	assert_int_equal(pdec(out, "%2B+", 1), 2);
	assert_string_equal(out, "+ ");
}

static void
percent_decode_nul_is_counted(void **state)
{
	char	 out[64];

	(void)state;
	memset(out, 'x', sizeof out);
	assert_int_equal(pdec(out, "a%00b", 0), 3);
	assert_memory_equal(out, "a\0b\0", 4);
	assert_int_equal(pdec(out, "%00", 1), 1);
	assert_memory_equal(out, "\0\0", 2);
}

/* out needs len + 1 bytes and no more. */
static void
percent_decode_stays_in_len_plus_one(void **state)
{
	char	 out[8];

	(void)state;
	memset(out, 'x', sizeof out);
	assert_int_equal(http_percent_decode(out, "abcdefg", 7, 0), 7);
	assert_string_equal(out, "abcdefg");
	memset(out, 'x', sizeof out);
	assert_int_equal(http_percent_decode(out, "abcdefgh", 3, 0), 3);
	assert_memory_equal(out, "abc\0xxxx", 8);
}

static void
form_empty_gives_no_fields(void **state)
{
	struct http_fields	 f;

	(void)state;
	f.n = 99;
	assert_int_equal(form(&f, ""), HTTP_OK);
	assert_int_equal(f.n, 0);
	assert_null(http_field_get(&f, "a"));
	assert_int_equal(form(&f, "&"), HTTP_OK);
	assert_int_equal(f.n, 0);
	assert_int_equal(form(&f, "&&&"), HTTP_OK);
	assert_int_equal(f.n, 0);
}

static void
form_two_fields(void **state)
{
	struct http_fields	 f;
	const struct http_field	*x;

	(void)state;
	assert_int_equal(form(&f, "a=1&b=2"), HTTP_OK);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.f[0].name, "a");
	assert_string_equal(f.f[0].value, "1");
	assert_int_equal(f.f[0].value_len, 1);
	assert_string_equal(f.f[1].name, "b");
	assert_string_equal(f.f[1].value, "2");
	x = http_field_get(&f, "b");
	assert_non_null(x);
	assert_string_equal(x->value, "2");
	assert_null(http_field_get(&f, "c"));
	assert_null(http_field_get(&f, ""));
	assert_null(http_field_get(&f, "a=1"));
}

static void
form_decodes_names_and_values(void **state)
{
	struct http_fields	 f;

	(void)state;
	assert_int_equal(form(&f, "first+name=J%C3%B6rg+M%C3%BCller&x%5B%5D="
	    "a%26b%3Dc"), HTTP_OK);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.f[0].name, "first name");
	assert_string_equal(f.f[0].value, "J\xc3\xb6rg M\xc3\xbcller");
	assert_string_equal(f.f[1].name, "x[]");
	assert_string_equal(f.f[1].value, "a&b=c");
	assert_int_equal(f.f[1].value_len, 5);
}

static void
form_name_without_equals_has_empty_value(void **state)
{
	struct http_fields	 f;

	(void)state;
	assert_int_equal(form(&f, "a"), HTTP_OK);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.f[0].name, "a");
	assert_string_equal(f.f[0].value, "");
	assert_int_equal(f.f[0].value_len, 0);
	assert_int_equal(form(&f, "a=&b"), HTTP_OK);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.f[0].value, "");
	assert_string_equal(f.f[1].value, "");
	/* Everything after the first '=' is the value. */
	assert_int_equal(form(&f, "a==1="), HTTP_OK);
	assert_string_equal(f.f[0].value, "=1=");
}

static void
form_empty_name_is_bad_field(void **state)
{
	struct http_fields	 f;

	(void)state;
	assert_int_equal(form(&f, "=1"), HTTP_BAD_FIELD);
	assert_int_equal(form(&f, "a=1&=2"), HTTP_BAD_FIELD);
	assert_int_equal(form(&f, "="), HTTP_BAD_FIELD);
	/* A name that decodes to a NUL is no name either. */
	assert_int_equal(form(&f, "%00=1"), HTTP_BAD_FIELD);
	assert_int_equal(form(&f, "a%00b=1"), HTTP_BAD_FIELD);
	/* A value a handler would see cut short at a NUL is refused too. */
	assert_int_equal(form(&f, "a=x%00y"), HTTP_NUL_IN_VALUE);
	assert_int_equal(form(&f, "a=1&b=%00"), HTTP_NUL_IN_VALUE);
}

static void
form_skips_empty_pairs(void **state)
{
	struct http_fields	 f;

	(void)state;
	assert_int_equal(form(&f, "a=1&&b=2"), HTTP_OK);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.f[1].name, "b");
	assert_int_equal(form(&f, "a=1&"), HTTP_OK);
	assert_int_equal(f.n, 1);
	assert_int_equal(form(&f, "&a=1"), HTTP_OK);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.f[0].value, "1");
}

static void
form_at_most_max_fields(void **state)
{
	struct http_fields	 f;
	char			 in[2048] = "", name[16];
	int			 i;

	(void)state;
	for (i = 0; i < HTTP_MAX_FIELDS; i++) {
		snprintf(name, sizeof name, "%sf%d=%d", i ? "&" : "", i, i);
		strcat(in, name);
	}
	assert_int_equal(form(&f, in), HTTP_OK);
	assert_int_equal(f.n, HTTP_MAX_FIELDS);
	assert_string_equal(http_field_get(&f, "f63")->value, "63");
	/* Empty pairs do not count. */
	strcat(in, "&&&");
	assert_int_equal(form(&f, in), HTTP_OK);
	assert_int_equal(f.n, HTTP_MAX_FIELDS);
	strcat(in, "f64=64");
	assert_int_equal(form(&f, in), HTTP_TOO_MANY);
}

static void
form_name_length_limit(void **state)
{
	struct http_fields	 f;
	char			 in[1024];

	(void)state;
	memset(in, 'n', HTTP_MAX_NAME);
	strcpy(in + HTTP_MAX_NAME, "=v");
	assert_int_equal(form(&f, in), HTTP_OK);
	assert_int_equal(strlen(f.f[0].name), HTTP_MAX_NAME);
	memset(in, 'n', HTTP_MAX_NAME + 1);
	strcpy(in + HTTP_MAX_NAME + 1, "=v");
	assert_int_equal(form(&f, in), HTTP_NAME_TOO_LONG);
	/* No '=' at all. */
	memset(in, 'n', HTTP_MAX_NAME + 1);
	in[HTTP_MAX_NAME + 1] = '\0';
	assert_int_equal(form(&f, in), HTTP_NAME_TOO_LONG);
	/* The limit is on the decoded name: 64 encoded bytes are fine. */
	{
		int	 i;

		in[0] = '\0';
		for (i = 0; i < HTTP_MAX_NAME; i++)
			strcat(in, "%41");
		strcat(in, "=1");
		assert_int_equal(form(&f, in), HTTP_OK);
		assert_int_equal(strlen(f.f[0].name), HTTP_MAX_NAME);
		in[0] = '\0';
		for (i = 0; i < HTTP_MAX_NAME + 1; i++)
			strcat(in, "%41");
		strcat(in, "=1");
		assert_int_equal(form(&f, in), HTTP_NAME_TOO_LONG);
	}
	/* A long value is fine. */
	memset(in, 'v', 1000);
	memcpy(in, "a=", 2);
	in[1000] = '\0';
	assert_int_equal(form(&f, in), HTTP_OK);
	assert_int_equal(f.f[0].value_len, 998);
}

static void
form_bad_encoding_in_name_or_value(void **state)
{
	struct http_fields	 f;

	(void)state;
	assert_int_equal(form(&f, "a%zz=1"), HTTP_BAD_ENCODING);
	assert_int_equal(form(&f, "a%4=1"), HTTP_BAD_ENCODING);
	assert_int_equal(form(&f, "a%"), HTTP_BAD_ENCODING);
	assert_int_equal(form(&f, "a=%zz"), HTTP_BAD_ENCODING);
	assert_int_equal(form(&f, "a=1%"), HTTP_BAD_ENCODING);
	assert_int_equal(form(&f, "a=1%4"), HTTP_BAD_ENCODING);
	assert_int_equal(form(&f, "a=1&b=%4&c=3"), HTTP_BAD_ENCODING);
	/* '%' split by '&' is malformed on both sides. */
	assert_int_equal(form(&f, "a=%&41"), HTTP_BAD_ENCODING);
}

/* A handler gets a value as a C string (shoal_form): one holding a NUL
 * would reach it cut short, so it is refused (400) instead. */
static void
form_value_may_not_hold_nul(void **state)
{
	struct http_fields	 f;

	(void)state;
	assert_int_equal(form(&f, "a=x%00y"), HTTP_NUL_IN_VALUE);
	assert_int_equal(form(&f, "a=%00"), HTTP_NUL_IN_VALUE);
	assert_int_equal(form(&f, "a=x%01y"), HTTP_OK);
	assert_int_equal(f.f[0].value_len, 3);
}

static void
form_duplicate_names_first_wins(void **state)
{
	struct http_fields	 f;

	(void)state;
	assert_int_equal(form(&f, "a=1&b=2&a=3"), HTTP_OK);
	assert_int_equal(f.n, 3);
	assert_string_equal(http_field_get(&f, "a")->value, "1");
	/* Same name spelled differently decodes to the same name. */
	assert_int_equal(form(&f, "%61=x&a=y"), HTTP_OK);
	assert_string_equal(http_field_get(&f, "a")->value, "x");
}

/* The parser reads len bytes, not up to a NUL. */
static void
form_reads_only_len_bytes(void **state)
{
	struct http_fields	 f;
	const char		*in = "a=1&b=2";

	(void)state;
	arena_reset(&a);
	assert_int_equal(http_parse_form(&f, &a, in, 3), HTTP_OK);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.f[0].value, "1");
	assert_int_equal(http_parse_form(&f, &a, in, 5), HTTP_OK);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.f[1].name, "b");
	assert_string_equal(f.f[1].value, "");
}

static void
strerror_names_every_error(void **state)
{
	enum http_error	 e;

	(void)state;
	for (e = HTTP_OK; e <= HTTP_NUL_IN_VALUE; e++) {
		assert_non_null(http_strerror(e));
		assert_string_not_equal(http_strerror(e), "unknown error");
	}
}

/* Finds name in h; returns the value as a new string or NULL. */
static const char *
cookie(const char *h, const char *name)
{
	static char	 v[512];
	const char	*p = NULL;
	size_t		 n = 0;

	if (!http_cookie_get(h, strlen(h), name, &p, &n))
		return NULL;
	assert_true(p >= h && p + n <= h + strlen(h));
	assert_true(n < sizeof v);
	memcpy(v, p, n);
	v[n] = '\0';
	return v;
}

static void
cookie_found_among_others(void **state)
{
	(void)state;
	assert_string_equal(cookie("a=1; sid=X; b=2", "sid"), "X");
	assert_string_equal(cookie("a=1; sid=X; b=2", "a"), "1");
	assert_string_equal(cookie("a=1; sid=X; b=2", "b"), "2");
	assert_string_equal(cookie("sid=X", "sid"), "X");
}

static void
cookie_without_spaces(void **state)
{
	(void)state;
	assert_string_equal(cookie("a=1;sid=X;b=2", "sid"), "X");
	assert_string_equal(cookie("a=1;sid=X;b=2", "b"), "2");
}

static void
cookie_extra_spaces_and_tabs(void **state)
{
	(void)state;
	assert_string_equal(cookie("a=1;   sid=X  ;\tb=2", "sid"), "X");
	assert_string_equal(cookie("  \t sid=X\t", "sid"), "X");
	assert_string_equal(cookie("a=1 ;\t\tsid=X \t; b=2 ", "b"), "2");
}

static void
cookie_name_prefix_or_suffix_does_not_match(void **state)
{
	(void)state;
	assert_string_equal(cookie("sidx=1; sid=2", "sid"), "2");
	assert_string_equal(cookie("xsid=1; sid=2", "sid"), "2");
	assert_string_equal(cookie("__Host-sid=1; sid=2", "sid"), "2");
	assert_string_equal(cookie("sid=1; sid_csrf=2", "sid_csrf"), "2");
	assert_string_equal(cookie("sid_csrf=2; sid=1", "sid"), "1");
	assert_null(cookie("sidx=1", "sid"));
	assert_null(cookie("si=1", "sid"));
	assert_null(cookie("SID=1", "sid"));
}

static void
cookie_value_may_contain_equals(void **state)
{
	(void)state;
	assert_string_equal(cookie("sid=a=b==; c=d", "sid"), "a=b==");
}

static void
cookie_missing_or_empty(void **state)
{
	const char	*p = NULL;
	size_t		 n = 99;

	(void)state;
	assert_null(cookie("", "sid"));
	assert_null(cookie(";;;", "sid"));
	assert_null(cookie("a=1; b=2", "sid"));
	/* A pair without '=' is ignored, as browsers do. */
	assert_null(cookie("sid", "sid"));
	assert_string_equal(cookie("sid; sid=3", "sid"), "3");
	/* Present but empty. */
	assert_int_equal(http_cookie_get("sid=; a=1", 9, "sid", &p, &n), 1);
	assert_int_equal(n, 0);
	assert_string_equal(cookie("a=1; sid=", "sid"), "");
	assert_string_equal(cookie("sid=  ; a=1", "sid"), "");
}

static void
cookie_first_of_duplicates_wins(void **state)
{
	(void)state;
	assert_string_equal(cookie("sid=1; sid=2", "sid"), "1");
}

static void
cookie_reads_only_len_bytes(void **state)
{
	const char	*h = "sid=abcdef; x=1", *p;
	size_t		 n;

	(void)state;
	assert_int_equal(http_cookie_get(h, 6, "sid", &p, &n), 1);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "ab", 2);
	assert_int_equal(http_cookie_get(h, 3, "sid", &p, &n), 0);
	assert_int_equal(http_cookie_get(h, 15, "x", &p, &n), 1);
	assert_int_equal(http_cookie_get(h, 14, "x", &p, &n), 1);
	assert_int_equal(n, 0);
}

static void
cookie_at_most_max_pairs(void **state)
{
	char	 h[2048] = "", pair[32];
	int	 i;

	(void)state;
	for (i = 1; i < HTTP_MAX_COOKIES; i++) {
		snprintf(pair, sizeof pair, "c%d=%d; ", i, i);
		strcat(h, pair);
	}
	strcat(h, "sid=last");			/* pair number 64 */
	assert_string_equal(cookie(h, "sid"), "last");
	assert_string_equal(cookie(h, "c1"), "1");
	/* Pair number 65 is not looked at. */
	{
		char	 h2[2100];

		snprintf(h2, sizeof h2, "x=0; %s", h);
		assert_null(cookie(h2, "sid"));
		assert_string_equal(cookie(h2, "c1"), "1");
	}
	/* Empty pairs count too: they cost the same work. */
	{
		char	 h3[256] = "";

		for (i = 0; i < HTTP_MAX_COOKIES; i++)
			strcat(h3, ";");
		strcat(h3, "sid=1");
		assert_null(cookie(h3, "sid"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(percent_decode_valid),
		cmocka_unit_test(percent_decode_rejects_malformed),
		cmocka_unit_test(percent_decode_plus_only_when_asked),
		cmocka_unit_test(percent_decode_nul_is_counted),
		cmocka_unit_test(percent_decode_stays_in_len_plus_one),
		cmocka_unit_test(form_empty_gives_no_fields),
		cmocka_unit_test(form_two_fields),
		cmocka_unit_test(form_decodes_names_and_values),
		cmocka_unit_test(form_name_without_equals_has_empty_value),
		cmocka_unit_test(form_empty_name_is_bad_field),
		cmocka_unit_test(form_skips_empty_pairs),
		cmocka_unit_test(form_at_most_max_fields),
		cmocka_unit_test(form_name_length_limit),
		cmocka_unit_test(form_bad_encoding_in_name_or_value),
		cmocka_unit_test(form_value_may_not_hold_nul),
		cmocka_unit_test(form_duplicate_names_first_wins),
		cmocka_unit_test(form_reads_only_len_bytes),
		cmocka_unit_test(strerror_names_every_error),
		cmocka_unit_test(cookie_found_among_others),
		cmocka_unit_test(cookie_without_spaces),
		cmocka_unit_test(cookie_extra_spaces_and_tabs),
		cmocka_unit_test(cookie_name_prefix_or_suffix_does_not_match),
		cmocka_unit_test(cookie_value_may_contain_equals),
		cmocka_unit_test(cookie_missing_or_empty),
		cmocka_unit_test(cookie_first_of_duplicates_wins),
		cmocka_unit_test(cookie_reads_only_len_bytes),
		cmocka_unit_test(cookie_at_most_max_pairs),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("http", tests, setup, teardown);
}
