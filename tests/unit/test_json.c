/*
 * test_json.c - json.h: the JSON writer handlers answer with. Documents are
 * checked against the expected text and by jsoncheck.h, a parser
 * independent of the code under test; every misuse must end in a refusal
 * with its reason, and shoal_json_send must turn one into a logged 500.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "arena.h"
#include "buf.h"
#include "json.h"
#include "jsoncheck.h"
#include "log.h"
#include "request.h"
#include "shoal.h"

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

static struct shoal_json *
writer(void)
{
	struct shoal_json	*j = arena_alloc(&a, sizeof *j);

	json_init(j, &a);
	return j;
}

/* The finished document, which must also be valid JSON. */
static const char *
done(struct shoal_json *j)
{
	const char	*text, *why = NULL;
	size_t		 len = 0;

	if ((text = json_result(j, &len, &why)) == NULL)
		fail_msg("refused: %s", why);
	assert_int_equal(strlen(text), len);
	if (jc_json_doc(text, len) != 0)
		fail_msg("not valid JSON: %s", text);
	return text;
}

/* The reason the document was refused. */
static const char *
refused(struct shoal_json *j)
{
	const char	*why = NULL;
	size_t		 len = 0;

	if (json_result(j, &len, &why) != NULL)
		fail_msg("a misused writer gave a document");
	assert_non_null(why);
	return why;
}

/* The checker the tests lean on tells JSON from what is not. */
static void
checker_refuses_what_is_not_json(void **state)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[1,]", "[,1]", "{\"a\"}", "{\"a\":1,}",
		"{a:1}", "[1 2]", "01", "-", "1.", "1e", "+1", "tru", "nul",
		"\"a", "\"\\x\"", "\"\x01\"", "\"\xff\"", "[]]", "1 1", "[\"a\":1]",
		"{\"a\":1 \"b\":2}",
	};
	static const char *const good[] = {
		"0", "-0.5e+3", "[]", "{}", " [ 1 , {\"a\" : [null,true,false]} ] ",
		"\"\\u00e9\"", "[[[[]]]]",
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (jc_json_doc(bad[i], strlen(bad[i])) == 0)
			fail_msg("the checker took %s", bad[i]);
	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		if (jc_json_doc(good[i], strlen(good[i])) != 0)
			fail_msg("the checker refused %s", good[i]);
}

static void
writes_a_nested_document(void **state)
{
	struct shoal_json	*j = writer();

	(void)state;
	shoal_json_object(j, NULL);
	shoal_json_str(j, "user", "ann");
	shoal_json_str(j, "none", NULL);
	shoal_json_int(j, "n", 42);
	shoal_json_bool(j, "yes", 1);
	shoal_json_bool(j, "no", 0);
	shoal_json_object(j, "cart");
	shoal_json_int(j, "apple", 3);
	shoal_json_int(j, "pear", -1);
	shoal_json_end(j);
	shoal_json_array(j, "lines");
	shoal_json_object(j, NULL);
	shoal_json_str(j, "item", "fig");
	shoal_json_end(j);
	shoal_json_str(j, NULL, "x");
	shoal_json_int(j, NULL, 0);
	shoal_json_array(j, NULL);
	shoal_json_end(j);
	shoal_json_end(j);
	shoal_json_end(j);
	assert_string_equal(done(j), "{\"user\":\"ann\",\"none\":null,\"n\":42,"
	    "\"yes\":true,\"no\":false,\"cart\":{\"apple\":3,\"pear\":-1},"
	    "\"lines\":[{\"item\":\"fig\"},\"x\",0,[]]}");
}

static void
empty_containers_and_commas(void **state)
{
	struct shoal_json	*j = writer();

	(void)state;
	shoal_json_object(j, NULL);
	shoal_json_end(j);
	assert_string_equal(done(j), "{}");

	j = writer();
	shoal_json_array(j, NULL);
	shoal_json_array(j, NULL);
	shoal_json_end(j);
	shoal_json_object(j, NULL);
	shoal_json_end(j);
	shoal_json_array(j, NULL);
	shoal_json_int(j, NULL, 1);
	shoal_json_int(j, NULL, 2);
	shoal_json_end(j);
	shoal_json_end(j);
	assert_string_equal(done(j), "[[],{},[1,2]]");

	j = writer();
	shoal_json_object(j, NULL);
	shoal_json_object(j, "a");
	shoal_json_end(j);
	shoal_json_array(j, "b");
	shoal_json_end(j);
	shoal_json_str(j, "", "");
	shoal_json_end(j);
	assert_string_equal(done(j), "{\"a\":{},\"b\":[],\"\":\"\"}");
}

/* Any one value is a JSON text (RFC 8259 section 2). */
static void
top_level_scalars(void **state)
{
	struct shoal_json	*j = writer();

	(void)state;
	shoal_json_str(j, NULL, "s");
	assert_string_equal(done(j), "\"s\"");
	j = writer();
	shoal_json_str(j, NULL, NULL);
	assert_string_equal(done(j), "null");
	j = writer();
	shoal_json_bool(j, NULL, 7);
	assert_string_equal(done(j), "true");
	j = writer();
	shoal_json_int(j, NULL, -12);
	assert_string_equal(done(j), "-12");
}

static void
integers_at_the_limits(void **state)
{
	struct shoal_json	*j = writer();

	(void)state;
	shoal_json_array(j, NULL);
	shoal_json_int(j, NULL, 9223372036854775807LL);
	shoal_json_int(j, NULL, -9223372036854775807LL - 1);
	shoal_json_int(j, NULL, -1);
	shoal_json_int(j, NULL, 10);
	shoal_json_end(j);
	assert_string_equal(done(j), "[9223372036854775807,"
	    "-9223372036854775808,-1,10]");
}

/* Strings and keys alike: RFC 8259 escapes, and safe inside HTML. */
static void
strings_and_keys_are_escaped(void **state)
{
	struct shoal_json	*j = writer();
	const char		*text;
	char			 out[64];

	(void)state;
	shoal_json_object(j, NULL);
	shoal_json_str(j, "q\"b\\", "a\"b\\c/");
	shoal_json_str(j, "</script>", "<!--&-->");
	shoal_json_str(j, "ctl", "\x01\n\t\x1f\x7f");
	shoal_json_str(j, "ls", "\xe2\x80\xa8\xe2\x80\xa9");
	shoal_json_str(j, "utf8", "caf\xc3\xa9 \xf0\x9f\x98\x80");
	shoal_json_end(j);
	text = done(j);
	assert_string_equal(text, "{\"q\\\"b\\\\\":\"a\\\"b\\\\c/\","
	    "\"\\u003c/script\\u003e\":\"\\u003c!--\\u0026--\\u003e\","
	    "\"ctl\":\"\\u0001\\u000a\\u0009\\u001f\\u007f\","
	    "\"ls\":\"\\u2028\\u2029\","
	    "\"utf8\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
	/* Nothing a browser would read as markup. */
	assert_null(strpbrk(text, "<>&"));
	/* Decoded, a value is what went in. */
	j = writer();
	shoal_json_str(j, NULL, "<a href=\"x\">&amp;\xe2\x80\xa8</a>");
	text = done(j);
	assert_int_equal(jc_json_decode(text, strlen(text), out),
	    (long)strlen("<a href=\"x\">&amp;\xe2\x80\xa8</a>"));
	assert_string_equal(out, "<a href=\"x\">&amp;\xe2\x80\xa8</a>");
}

/* Each misuse is refused with its own reason, and the first one stays. */
static void
misuse_is_refused_with_a_reason(void **state)
{
	struct shoal_json	*j;

	(void)state;
	j = writer();
	shoal_json_object(j, "k");
	assert_string_equal(refused(j), "a key outside an object");

	j = writer();
	shoal_json_object(j, NULL);
	shoal_json_int(j, NULL, 1);
	assert_string_equal(refused(j), "a member of an object without a key");

	j = writer();
	shoal_json_array(j, NULL);
	shoal_json_str(j, "k", "v");
	assert_string_equal(refused(j), "a key inside an array");

	j = writer();
	shoal_json_end(j);
	assert_string_equal(refused(j), "an end with no object or array open");

	j = writer();
	shoal_json_object(j, NULL);
	shoal_json_end(j);
	shoal_json_end(j);
	assert_string_equal(refused(j), "an end with no object or array open");

	j = writer();
	shoal_json_object(j, NULL);
	shoal_json_array(j, "a");
	shoal_json_end(j);
	assert_string_equal(refused(j), "an object or array left open");

	j = writer();
	assert_string_equal(refused(j), "no value written");

	j = writer();
	shoal_json_object(j, NULL);
	shoal_json_end(j);
	shoal_json_array(j, NULL);
	shoal_json_end(j);
	assert_string_equal(refused(j), "a second top-level value");

	j = writer();
	shoal_json_int(j, NULL, 1);
	shoal_json_int(j, NULL, 2);
	assert_string_equal(refused(j), "a second top-level value");

	/* After a misuse, nothing else counts: not even what would fix it. */
	j = writer();
	shoal_json_array(j, NULL);
	shoal_json_bool(j, "k", 1);
	shoal_json_end(j);
	shoal_json_end(j);
	assert_string_equal(refused(j), "a key inside an array");

	assert_string_equal(refused(NULL), "no writer");
}

static void
invalid_utf8_is_refused(void **state)
{
	static const char *const bad[] = {
		"\x80", "a\xbf", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xe2\x82", "ok\xff", "\xc3",
	};
	struct shoal_json	*j;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		j = writer();
		shoal_json_array(j, NULL);
		shoal_json_str(j, NULL, bad[i]);
		shoal_json_end(j);
		assert_string_equal(refused(j),
		    "a string that is not valid UTF-8");

		j = writer();
		shoal_json_object(j, NULL);
		shoal_json_int(j, bad[i], 1);
		shoal_json_end(j);
		assert_string_equal(refused(j), "a key that is not valid UTF-8");
	}
}

/* What handlers check text with before they keep it for JSON. */
static void
utf8_check_for_handlers(void **state)
{
	(void)state;
	assert_true(shoal_utf8_valid(""));
	assert_true(shoal_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80 <&>"));
	assert_false(shoal_utf8_valid("caf\xc3"));
	assert_false(shoal_utf8_valid("\xed\xa0\x80"));
	assert_false(shoal_utf8_valid("\xc0\xaf"));
	assert_false(shoal_utf8_valid("ok\xff"));
}

/* 16 levels are fine, the 17th is refused, whatever mix of the two. */
static void
depth_is_limited_to_16(void **state)
{
	struct shoal_json	*j;
	char			 want[128] = "";
	int			 i;

	(void)state;
	/* [{"k":[{"k":[...]}]}]: arrays at even levels, objects at odd. */
	j = writer();
	for (i = 0; i < 16; i++) {
		if (i % 2) {
			shoal_json_object(j, NULL);
			strcat(want, "{");
		} else {
			shoal_json_array(j, i == 0 ? NULL : "k");
			strcat(want, i == 0 ? "[" : "\"k\":[");
		}
	}
	for (i = 15; i >= 0; i--) {
		shoal_json_end(j);
		strcat(want, i % 2 ? "}" : "]");
	}
	assert_string_equal(done(j), want);

	j = writer();
	for (i = 0; i < 17; i++)
		shoal_json_array(j, NULL);
	for (i = 0; i < 17; i++)
		shoal_json_end(j);
	assert_string_equal(refused(j),
	    "objects and arrays nested deeper than 16");
}

/*
 * shoal_json_send: a document is the response; a misuse answers 500 and
 * logs why (stderr is the log: caught in a temporary file).
 */
struct mini {
	struct thread_ctx	 t;
	struct shoal_req	 r;
};

static void
mini_open(struct mini *m)
{
	struct req_input	 in;

	memset(m, 0, sizeof *m);
	memset(&in, 0, sizeof in);
	in.method = "GET";
	in.path = "/api/test";
	arena_init(&m->t.arena);
	buf_init(&m->t.headers);
	buf_init(&m->t.body);
	buf_init(&m->t.scratch);
	buf_init(&m->t.fixed_headers);
	req_init(&m->r, &m->t, &in);
}

static void
mini_close(struct mini *m)
{
	arena_free(&m->t.arena);
	buf_free(&m->t.headers);
	buf_free(&m->t.body);
	buf_free(&m->t.scratch);
	buf_free(&m->t.fixed_headers);
}

/* Runs fn on m with stderr in a file; returns what was logged. */
static char *
logged_by(void (*fn)(struct mini *), struct mini *m)
{
	static char	 text[4096];
	FILE		*f = tmpfile();
	int		 saved = dup(STDERR_FILENO);
	size_t		 n;

	assert_non_null(f);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	fn(m);
	log_flush();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void
send_good(struct mini *m)
{
	struct shoal_json	*j = shoal_json_new(&m->r);

	shoal_json_object(j, NULL);
	shoal_json_str(j, "error", "sign in first");
	shoal_json_end(j);
	shoal_json_send(&m->r, 401, j);
}

static void
send_unbalanced(struct mini *m)
{
	struct shoal_json	*j = shoal_json_new(&m->r);

	shoal_json_object(j, NULL);
	shoal_json_str(j, "a", "b");
	shoal_json_send(&m->r, 200, j);
}

static void
send_bad_utf8(struct mini *m)
{
	struct shoal_json	*j = shoal_json_new(&m->r);

	shoal_json_object(j, NULL);
	shoal_json_str(j, "item", "\xff");
	shoal_json_end(j);
	shoal_json_send(&m->r, 200, j);
}

static void
send_answers_or_fails_loudly(void **state)
{
	struct mini	 m;
	char		*log;

	(void)state;
	mini_open(&m);
	log = logged_by(send_good, &m);
	assert_string_equal(log, "");
	assert_int_equal(m.r.status, 401);
	assert_string_equal(m.r.content_type, "application/json");
	assert_string_equal(buf_cstr(&m.t.body),
	    "{\"error\":\"sign in first\"}\n");
	mini_close(&m);

	mini_open(&m);
	log = logged_by(send_unbalanced, &m);
	assert_int_equal(m.r.status, 500);
	assert_string_not_equal(m.r.content_type, "application/json");
	assert_null(strstr(buf_cstr(&m.t.body), "\"a\""));
	assert_non_null(strstr(log, "\"level\":\"error\""));
	assert_non_null(strstr(log, "/api/test"));
	assert_non_null(strstr(log, "an object or array left open"));
	mini_close(&m);

	mini_open(&m);
	log = logged_by(send_bad_utf8, &m);
	assert_int_equal(m.r.status, 500);
	assert_non_null(strstr(log, "a string that is not valid UTF-8"));
	mini_close(&m);
}

/* A large document grows in the arena and stays whole. */
static void
large_document(void **state)
{
	enum { N = 5000 };
	struct shoal_json	*j = writer();
	const char		*text;
	int			 i;

	(void)state;
	shoal_json_array(j, NULL);
	for (i = 0; i < N; i++)
		shoal_json_str(j, NULL, "0123456789");
	shoal_json_end(j);
	text = done(j);
	assert_int_equal(strlen(text), 13 * N + 1);
	assert_memory_equal(text + 1 + 13 * 4321, "\"0123456789\",", 13);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(checker_refuses_what_is_not_json),
		cmocka_unit_test(writes_a_nested_document),
		cmocka_unit_test(empty_containers_and_commas),
		cmocka_unit_test(top_level_scalars),
		cmocka_unit_test(integers_at_the_limits),
		cmocka_unit_test(strings_and_keys_are_escaped),
		cmocka_unit_test(misuse_is_refused_with_a_reason),
		cmocka_unit_test(invalid_utf8_is_refused),
		cmocka_unit_test(utf8_check_for_handlers),
		cmocka_unit_test(depth_is_limited_to_16),
		cmocka_unit_test(send_answers_or_fails_loudly),
		cmocka_unit_test(large_document),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("json", tests, setup, teardown);
}
