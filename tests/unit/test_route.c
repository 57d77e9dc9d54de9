/*
 * test_route.c - route.h: checking patterns, matching paths against them,
 * decoding text parameters, checking a route table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static void
handler(struct shoal_req *r)
{
	(void)r;
}

/* The check's verdict on p, with its message in err. */
static int
check(const char *p, char *err, size_t errsz)
{
	err[0] = '\0';
	return route_pattern_check(p, err, errsz);
}

/* Fails unless p is refused with a message holding want. */
static void
refused(const char *p, const char *want)
{
	char	 err[256];

	if (check(p, err, sizeof err) != -1)
		fail_msg("pattern \"%s\" accepted", p);
	if (strstr(err, want) == NULL)
		fail_msg("pattern \"%s\": message \"%s\" lacks \"%s\"", p, err,
		    want);
	if (strchr(err, '\n') != NULL)
		fail_msg("pattern \"%s\": message is not one line", p);
}

/* The parameter called name of m, or NULL. */
static const struct route_param *
param(const struct route_params *m, const char *name)
{
	size_t	 i;

	for (i = 0; i < m->n; i++)
		if (m->p[i].name_len == strlen(name) &&
		    memcmp(m->p[i].name, name, m->p[i].name_len) == 0)
			return &m->p[i];
	return NULL;
}

/* Fails unless parameter name of m holds exactly text. */
static void
assert_param(const struct route_params *m, const char *name, const char *text)
{
	const struct route_param	*p = param(m, name);

	if (p == NULL) {
		fail_msg("no parameter %s", name);
		return;
	}
	if (p->value_len != strlen(text) ||
	    memcmp(p->value, text, p->value_len) != 0)
		fail_msg("parameter %s is \"%.*s\", want \"%s\"", name,
		    (int)p->value_len, p->value, text);
}

static int
match(const char *pattern, const char *path, struct route_params *m)
{
	memset(m, 0xa5, sizeof *m);
	return route_match(pattern, path, m);
}

static void
good_patterns_pass(void **state)
{
	static const char *const good[] = {
		"/", "/cart", "/cart/add", "/account/sessions/revoke",
		"/orders/{id:int}", "/account/sessions/{id}/revoke",
		"/{a}", "/{_}", "/{a1_b2}", "/x/{a}/{b:int}/y/{c}",
		"/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h:int}",
		"/a-b.c_d~e!f$g&h'i(j)k+l,m;n=o:p@q", "/.well-known",
		"/a/...", "/{abcdefghijklmnopqrstuvwxyz012345}",
	};
	char	 err[256];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		if (check(good[i], err, sizeof err) != 0)
			fail_msg("pattern \"%s\" refused: %s", good[i], err);
}

static void
bad_patterns_are_refused_with_a_reason(void **state)
{
	(void)state;
	refused("", "does not start with /");
	refused("cart", "does not start with /");
	refused("{id}", "does not start with /");
	/* Segments are never empty. */
	refused("//", "empty segment");
	refused("/cart/", "empty segment");
	refused("/a//b", "empty segment");
	/* Names. */
	refused("/{}", "parameter name \"\"");
	refused("/{:int}", "parameter name \"\"");
	refused("/{Id}", "parameter name \"Id\"");
	refused("/{1a}", "parameter name \"1a\"");
	refused("/{a-b}", "parameter name \"a-b\"");
	refused("/{a b}", "parameter name \"a b\"");
	refused("/{abcdefghijklmnopqrstuvwxyz0123456}", "1 to 32");
	/* Types: int or none. */
	refused("/{id:integer}", "unknown type \"integer\" (only int)");
	refused("/{id:}", "unknown type \"\"");
	refused("/{id:int:int}", "unknown type \"int:int\"");
	refused("/{id:Int}", "unknown type \"Int\"");
	/* Unique names, at most 8. */
	refused("/{a}/{a}", "parameter a named twice");
	refused("/{a}/x/{a:int}", "parameter a named twice");
	refused("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
	    "more than 8 parameters");
	/* Braces around a whole segment only; no wildcards. */
	refused("/a{id}", "braces must enclose a whole segment");
	refused("/{id}a", "braces must enclose a whole segment");
	refused("/{id", "braces must enclose a whole segment");
	refused("/id}", "braces must enclose a whole segment");
	refused("/{{id}}", "parameter name \"{id}\"");
	refused("/*", "byte 0x2a");
	refused("/static/*", "byte 0x2a");
	/* Literals hold no encoding, query, fragment, space or control. */
	refused("/a%20b", "byte 0x25");
	refused("/a?b", "byte 0x3f");
	refused("/a#b", "byte 0x23");
	refused("/a b", "byte 0x20");
	refused("/a\tb", "byte 0x09");
	refused("/caf\xc3\xa9", "byte 0xc3");
	refused("/a/.", "\".\" or \"..\"");
	refused("/../a", "\".\" or \"..\"");
}

static void
literal_patterns_match_exactly(void **state)
{
	struct route_params	 m;

	(void)state;
	assert_int_equal(match("/", "/", &m), 1);
	assert_int_equal(m.n, 0);
	assert_int_equal(match("/cart/add", "/cart/add", &m), 1);
	assert_int_equal(m.n, 0);
	assert_int_equal(match("/", "", &m), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(match("/", "//", &m), 0);
	assert_int_equal(match("/", "/x", &m), 0);
	assert_int_equal(match("/cart", "/Cart", &m), 0);
	assert_int_equal(match("/cart", "/car", &m), 0);
	assert_int_equal(match("/cart", "/carts", &m), 0);
	assert_int_equal(match("/cart/add", "/cart", &m), 0);
	assert_int_equal(match("/cart", "/cart/add", &m), 0);
	/* Compared as sent: no decoding, no normalising. */
	assert_int_equal(match("/cart", "/c%61rt", &m), 0);
	assert_int_equal(match("/cart/add", "/cart//add", &m), 0);
	assert_int_equal(match("/cart/add", "/cart/./add", &m), 0);
}

static void
text_parameters_take_one_segment(void **state)
{
	struct route_params	 m;
	const char		*path = "/account/sessions/AbC-_x/revoke";

	(void)state;
	assert_int_equal(match("/account/sessions/{id}/revoke", path, &m), 1);
	assert_int_equal(m.n, 1);
	assert_param(&m, "id", "AbC-_x");
	assert_ptr_equal(m.p[0].value, path + strlen("/account/sessions/"));
	assert_int_equal(m.p[0].is_int, 0);
	assert_int_equal(m.p[0].num, 0);

	assert_int_equal(match("/x/{a}/{b:int}/y/{c}", "/x/p/42/y/q", &m), 1);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.p[0].name, "a}/{b:int}/y/{c}");	/* spans */
	assert_int_equal(m.p[0].name_len, 1);
	assert_param(&m, "a", "p");
	assert_param(&m, "b", "42");
	assert_param(&m, "c", "q");
	assert_int_equal(m.p[1].is_int, 1);
	assert_int_equal(m.p[1].num, 42);

	/* Anything but '/' is text, digits and braces too. */
	assert_int_equal(match("/a/{x}", "/a/123", &m), 1);
	assert_param(&m, "x", "123");
	assert_int_equal(m.p[0].is_int, 0);
	assert_int_equal(m.p[0].num, 0);
	assert_int_equal(match("/a/{x}", "/a/{x}", &m), 1);
	assert_param(&m, "x", "{x}");
	assert_int_equal(match("/a/{x}", "/a/.", &m), 1);
	assert_param(&m, "x", ".");

	/* Never empty, never more than one segment. */
	assert_int_equal(match("/a/{x}", "/a/", &m), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(match("/a/{x}", "/a", &m), 0);
	assert_int_equal(match("/a/{x}", "/a/b/c", &m), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(match("/a/{x}/b", "/a//b", &m), 0);
	assert_int_equal(match("/a/{x}/b", "/a/x/c", &m), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(match("/{x}", "/", &m), 0);
}

/* "/a/" is not "/a", and a parameter does not swallow the slash. */
static void
trailing_slash_is_another_path(void **state)
{
	struct route_params	 m;

	(void)state;
	assert_int_equal(match("/a", "/a/", &m), 0);
	assert_int_equal(match("/a/{x}", "/a/b/", &m), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(match("/a/{x:int}", "/a/1/", &m), 0);
	assert_int_equal(match("/a/{x}/b", "/a/x/b/", &m), 0);
	assert_int_equal(match("/a/{x}/b", "/a/x/b", &m), 1);
}

static void
int_parameters_take_canonical_decimals(void **state)
{
	static const char *const bad[] = {
		"/n/", "/n/-1", "/n/+1", "/n/-0", "/n/00", "/n/01",
		"/n/007", "/n/1a", "/n/a1", "/n/1.0", "/n/1e3", "/n/0x10",
		"/n/%31", "/n/ 1", "/n/1 ", "/n/\xd9\xa1",
		"/n/9223372036854775808", "/n/9999999999999999999",
		"/n/18446744073709551616", "/n/10000000000000000000",
		"/n/92233720368547758070",
	};
	struct route_params	 m;
	size_t			 i;

	(void)state;
	assert_int_equal(match("/n/{v:int}", "/n/0", &m), 1);
	assert_int_equal(m.p[0].num, 0);
	assert_int_equal(match("/n/{v:int}", "/n/7", &m), 1);
	assert_int_equal(m.p[0].num, 7);
	assert_int_equal(match("/n/{v:int}", "/n/10", &m), 1);
	assert_int_equal(m.p[0].num, 10);
	assert_int_equal(match("/n/{v:int}", "/n/1000000000000000000", &m), 1);
	assert_true(m.p[0].num == INT64_C(1000000000000000000));
	/* 19 digits: the largest fits, one more does not. */
	assert_int_equal(match("/n/{v:int}", "/n/9223372036854775807", &m),
	    1);
	assert_true(m.p[0].num == INT64_MAX);
	assert_param(&m, "v", "9223372036854775807");
	assert_int_equal(match("/n/{v:int}", "/n/9223372036854775806", &m),
	    1);
	assert_true(m.p[0].num == INT64_MAX - 1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (match("/n/{v:int}", bad[i], &m) != 0 || m.n != 0)
			fail_msg("\"%s\" matched /n/{v:int}", bad[i]);
}

static void
segments_over_the_limit_do_not_match(void **state)
{
	char			 path[ROUTE_MAX_SEGMENT + 16];
	struct route_params	 m;
	size_t			 i;

	(void)state;
	memcpy(path, "/a/", 3);
	memset(path + 3, 'x', ROUTE_MAX_SEGMENT);
	path[3 + ROUTE_MAX_SEGMENT] = '\0';
	assert_int_equal(match("/a/{x}", path, &m), 1);
	assert_int_equal(m.p[0].value_len, ROUTE_MAX_SEGMENT);
	strcpy(path + 3 + ROUTE_MAX_SEGMENT, "/b");
	assert_int_equal(match("/a/{x}/b", path, &m), 1);
	path[3 + ROUTE_MAX_SEGMENT] = 'x';
	path[3 + ROUTE_MAX_SEGMENT + 1] = '\0';
	assert_int_equal(match("/a/{x}", path, &m), 0);
	assert_int_equal(m.n, 0);
	/* The limit is on the segment as sent, encoded. */
	memset(path + 3, '\0', ROUTE_MAX_SEGMENT + 1);
	for (i = 0; i < ROUTE_MAX_SEGMENT / 3; i++)
		memcpy(path + 3 + 3 * i, "%41", 3);
	assert_int_equal(match("/a/{x}", path, &m), 1);
	strcat(path, "%41");
	assert_int_equal(match("/a/{x}", path, &m), 0);
}

/* Decodes a text value as the router does; returns the error. */
static enum route_error
decode(const char *in, char *out, size_t *len)
{
	return route_decode(out, in, strlen(in), len);
}

static void
text_parameters_are_percent_decoded_once(void **state)
{
	char		 out[64];
	size_t		 len;

	(void)state;
	assert_int_equal(decode("apple", out, &len), ROUTE_OK);
	assert_string_equal(out, "apple");
	assert_int_equal(len, 5);
	assert_int_equal(decode("green%20apple", out, &len), ROUTE_OK);
	assert_string_equal(out, "green apple");
	/* '+' is a plus in a path. */
	assert_int_equal(decode("a+b", out, &len), ROUTE_OK);
	assert_string_equal(out, "a+b");
	assert_int_equal(decode("%2B%2b", out, &len), ROUTE_OK);
	assert_string_equal(out, "++");
	/* Once: "%2541" is "%41", not "A". */
	assert_int_equal(decode("%2541", out, &len), ROUTE_OK);
	assert_string_equal(out, "%41");
	assert_int_equal(decode("caf%C3%A9", out, &len), ROUTE_OK);
	assert_string_equal(out, "caf\xc3\xa9");
	assert_int_equal(len, 5);
	assert_int_equal(decode("", out, &len), ROUTE_OK);
	assert_int_equal(len, 0);

	assert_int_equal(decode("%", out, &len), ROUTE_BAD_ENCODING);
	assert_int_equal(decode("%4", out, &len), ROUTE_BAD_ENCODING);
	assert_int_equal(decode("a%zz", out, &len), ROUTE_BAD_ENCODING);
	assert_int_equal(decode("%%41", out, &len), ROUTE_BAD_ENCODING);
	assert_int_equal(decode("a%2Fb", out, &len), ROUTE_BAD_BYTE);
	assert_int_equal(decode("a%2fb", out, &len), ROUTE_BAD_BYTE);
	assert_int_equal(decode("%00", out, &len), ROUTE_BAD_BYTE);
	assert_int_equal(decode("a%00b", out, &len), ROUTE_BAD_BYTE);
	assert_string_equal(route_strerror(ROUTE_BAD_ENCODING),
	    "malformed percent-encoding");
	assert_string_equal(route_strerror(ROUTE_BAD_BYTE),
	    "encoded slash or NUL in a path parameter");
	assert_string_equal(route_strerror(ROUTE_OK), "ok");
}

/* An encoded parameter matches as sent; its spans stay in the path. */
static void
percent_encoded_parameters_match_as_sent(void **state)
{
	struct route_params	 m;
	char			 out[64];
	size_t			 len;

	(void)state;
	assert_int_equal(match("/i/{x}", "/i/a%2Fb", &m), 1);
	assert_param(&m, "x", "a%2Fb");
	assert_int_equal(route_decode(out, m.p[0].value, m.p[0].value_len,
	    &len), ROUTE_BAD_BYTE);
	assert_int_equal(match("/i/{x}", "/i/%zz", &m), 1);
	assert_param(&m, "x", "%zz");
	assert_int_equal(match("/i/{x}/e", "/i/a%20b/e", &m), 1);
	assert_int_equal(route_decode(out, m.p[0].value, m.p[0].value_len,
	    &len), ROUTE_OK);
	assert_string_equal(out, "a b");
}

static void
has_params_and_same_shape(void **state)
{
	(void)state;
	assert_int_equal(route_has_params("/"), 0);
	assert_int_equal(route_has_params("/cart/add"), 0);
	assert_int_equal(route_has_params("/cart/{item}"), 1);
	assert_int_equal(route_has_params("/{n:int}"), 1);

	assert_int_equal(route_same("/", "/"), 1);
	assert_int_equal(route_same("/a/b", "/a/b"), 1);
	assert_int_equal(route_same("/a/{x}", "/a/{y}"), 1);
	assert_int_equal(route_same("/a/{x:int}/c", "/a/{y:int}/c"), 1);
	assert_int_equal(route_same("/", "/a"), 0);
	assert_int_equal(route_same("/a", "/a/b"), 0);
	assert_int_equal(route_same("/a/b", "/a/c"), 0);
	assert_int_equal(route_same("/a/b", "/a/bc"), 0);
	assert_int_equal(route_same("/a/{x}", "/a/{x:int}"), 0);
	assert_int_equal(route_same("/a/{x}", "/a/x"), 0);
	assert_int_equal(route_same("/a/{x}", "/a/{x}/b"), 0);
}

static void
route_table_check_names_the_bad_route(void **state)
{
	const struct shoal_route good[] = {
		{ SHOAL_GET,	"/",			handler },
		{ SHOAL_GET,	"/cart",		handler },
		{ SHOAL_POST,	"/cart",		handler },
		{ SHOAL_GET,	"/cart/items/{item}",	handler },
		{ SHOAL_POST,	"/cart/items/{item}",	handler },
		{ SHOAL_GET,	"/cart/items/new",	handler },
		{ SHOAL_GET,	"/orders/{id:int}",	handler },
		{ SHOAL_GET,	"/orders/{name}",	handler },
		{ 0,		NULL,			NULL },
	};
	const struct shoal_route bad_type[] = {
		{ SHOAL_GET,	"/",			handler },
		{ SHOAL_POST,	"/orders/{id:integer}",	handler },
		{ 0,		NULL,			NULL },
	};
	const struct shoal_route twice[] = {
		{ SHOAL_GET,	"/a/{x}",		handler },
		{ SHOAL_POST,	"/a/{x}",		handler },
		{ SHOAL_GET,	"/b",			handler },
		{ SHOAL_GET,	"/a/{y}",		handler },
		{ 0,		NULL,			NULL },
	};
	const struct shoal_route twice_plain[] = {
		{ SHOAL_POST,	"/b",			handler },
		{ SHOAL_POST,	"/b",			handler },
		{ 0,		NULL,			NULL },
	};
	const struct shoal_route no_handler[] = {
		{ SHOAL_GET,	"/b",			NULL },
		{ 0,		NULL,			NULL },
	};
	const struct shoal_route bad_method[] = {
		{ (enum shoal_method)7, "/b",		handler },
		{ 0,		NULL,			NULL },
	};
	const struct shoal_route empty[] = {
		{ 0,		NULL,			NULL },
	};
	char	 err[512];

	(void)state;
	assert_int_equal(route_table_check(good, err, sizeof err), 0);
	assert_int_equal(route_table_check(empty, err, sizeof err), 0);
	assert_int_equal(route_table_check(bad_type, err, sizeof err), -1);
	assert_string_equal(err, "route POST /orders/{id:integer}: parameter "
	    "id: unknown type \"integer\" (only int)");
	assert_int_equal(route_table_check(twice, err, sizeof err), -1);
	assert_string_equal(err, "route GET /a/{y}: the same as route GET "
	    "/a/{x} above it");
	assert_int_equal(route_table_check(twice_plain, err, sizeof err), -1);
	assert_string_equal(err, "route POST /b: the same as route POST /b "
	    "above it");
	assert_int_equal(route_table_check(no_handler, err, sizeof err), -1);
	assert_string_equal(err, "route GET /b: no handler");
	assert_int_equal(route_table_check(bad_method, err, sizeof err), -1);
	assert_string_equal(err, "route /b: unknown method 7");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_patterns_pass),
		cmocka_unit_test(bad_patterns_are_refused_with_a_reason),
		cmocka_unit_test(literal_patterns_match_exactly),
		cmocka_unit_test(text_parameters_take_one_segment),
		cmocka_unit_test(trailing_slash_is_another_path),
		cmocka_unit_test(int_parameters_take_canonical_decimals),
		cmocka_unit_test(segments_over_the_limit_do_not_match),
		cmocka_unit_test(text_parameters_are_percent_decoded_once),
		cmocka_unit_test(percent_encoded_parameters_match_as_sent),
		cmocka_unit_test(has_params_and_same_shape),
		cmocka_unit_test(route_table_check_names_the_bad_route),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
