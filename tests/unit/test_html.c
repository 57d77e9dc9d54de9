/*
 * test_html.c - html.h: HTML escaping, JSON string literals, UTF-8.
 *
 * The JSON checks use jsoncheck.h, a validator and decoder independent of
 * the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "buf.h"
#include "html.h"
#include "jsoncheck.h"

static struct buf	 b;

static int
setup(void **state)
{
	(void)state;
	buf_init(&b);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	buf_free(&b);
	return 0;
}

static const char *
esc(const char *s, size_t len)
{
	buf_reset(&b);
	html_escape(&b, s, len);
	return buf_cstr(&b);
}

static const char *
js(const char *s, size_t len)
{
	buf_reset(&b);
	json_string(&b, s, len);
	return buf_cstr(&b);
}

#define ESC(s)	esc((s), sizeof(s) - 1)
#define JS(s)	js((s), sizeof(s) - 1)

static void
html_escapes_the_five_characters(void **state)
{
	(void)state;
	assert_string_equal(ESC("&"), "&amp;");
	assert_string_equal(ESC("<"), "&lt;");
	assert_string_equal(ESC(">"), "&gt;");
	assert_string_equal(ESC("\""), "&quot;");
	assert_string_equal(ESC("'"), "&#39;");
	assert_string_equal(ESC("<a href=\"x\" title='y'>&amp;</a>"),
	    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
	assert_string_equal(ESC("&&<<"), "&amp;&amp;&lt;&lt;");
}

static void
html_passes_everything_else_through(void **state)
{
	char	 all[256], want[256];
	size_t	 i, n = 0;

	(void)state;
	assert_string_equal(ESC(""), "");
	assert_string_equal(ESC("plain text 123"), "plain text 123");
	assert_string_equal(ESC("caf\xc3\xa9 \xe2\x82\xac"),
	    "caf\xc3\xa9 \xe2\x82\xac");
	for (i = 1; i < 256; i++)
		if (!strchr("&<>\"'", (int)i))
			all[n++] = (char)i;
	memcpy(want, all, n);
	buf_reset(&b);
	html_escape(&b, all, n);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
}

static void
html_escape_appends_and_respects_len(void **state)
{
	(void)state;
	buf_reset(&b);
	buf_puts(&b, "x=");
	html_escape(&b, "<b>ignored", 3);
	assert_string_equal(buf_cstr(&b), "x=&lt;b&gt;");
	/* Embedded NUL is data, not an end. */
	buf_reset(&b);
	html_escape(&b, "a\0<", 3);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "a\0&lt;", 6);
}

static void
html_escape_long_input(void **state)
{
	char	*in = malloc(100000);
	size_t	 i;

	(void)state;
	assert_non_null(in);
	for (i = 0; i < 100000; i++)
		in[i] = (i % 10 == 0) ? '<' : 'a';
	buf_reset(&b);
	html_escape(&b, in, 100000);
	assert_int_equal(b.len, 100000 + 10000 * 3);
	free(in);
}

static void
json_quotes_and_backslash(void **state)
{
	(void)state;
	assert_string_equal(JS(""), "\"\"");
	assert_string_equal(JS("abc"), "\"abc\"");
	assert_string_equal(JS("a\"b"), "\"a\\\"b\"");
	assert_string_equal(JS("a\\b"), "\"a\\\\b\"");
	assert_string_equal(JS("\\\""), "\"\\\\\\\"\"");
	assert_string_equal(JS("/"), "\"/\"");
}

static void
json_control_characters_are_escaped(void **state)
{
	char	 in[1], want[16];
	int	 c;

	(void)state;
	for (c = 0; c < 0x20; c++) {
		in[0] = (char)c;
		snprintf(want, sizeof want, "\"\\u%04x\"", c);
		assert_string_equal(js(in, 1), want);
	}
	assert_string_equal(JS("\x7f"), "\"\\u007f\"");
	assert_string_equal(JS("a\nb\tc"), "\"a\\u000ab\\u0009c\"");
	buf_reset(&b);
	json_string(&b, "a\0b", 3);
	assert_string_equal(buf_cstr(&b), "\"a\\u0000b\"");
}

/* Safe inside a page: no markup character, no JavaScript line end. */
static void
json_markup_and_line_separators_are_escaped(void **state)
{
	(void)state;
	assert_string_equal(JS("</script>"), "\"\\u003c/script\\u003e\"");
	assert_string_equal(JS("<!--"), "\"\\u003c!--\"");
	assert_string_equal(JS("a&b>c"), "\"a\\u0026b\\u003ec\"");
	assert_string_equal(JS("\xe2\x80\xa8|\xe2\x80\xa9"),
	    "\"\\u2028|\\u2029\"");
	/* Their neighbours are plain text. */
	assert_string_equal(JS("\xe2\x80\xa7\xe2\x80\xaa"),
	    "\"\xe2\x80\xa7\xe2\x80\xaa\"");
	assert_string_equal(JS("'"), "\"'\"");
}

/* The strict form refuses what the lenient one would replace. */
static void
json_strict_refuses_invalid_utf8(void **state)
{
	static const char *const bad[] = {
		"\x80", "a\xbf", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xe2\x82", "ok\xff", "\xc3",
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		buf_reset(&b);
		buf_puts(&b, "[");
		assert_int_equal(json_string_strict(&b, bad[i], strlen(bad[i])),
		    -1);
		/* Nothing of the refused string is left behind. */
		assert_string_equal(buf_cstr(&b), "[");
		assert_false(utf8_valid(bad[i], strlen(bad[i])));
	}
	buf_reset(&b);
	assert_int_equal(json_string_strict(&b, "caf\xc3\xa9<\x01", 7), 0);
	assert_string_equal(buf_cstr(&b), "\"caf\xc3\xa9\\u003c\\u0001\"");
	assert_true(utf8_valid("caf\xc3\xa9", 5));
	assert_true(utf8_valid("", 0));
	/* len, not the NUL, ends the text. */
	assert_true(utf8_valid("a\0b", 3));
	assert_false(utf8_valid("a\0\xff", 3));
}

static void
json_valid_utf8_is_kept(void **state)
{
	static const char *const ok[] = {
		"caf\xc3\xa9",			/* U+00E9 */
		"\xc2\x80",			/* U+0080, smallest 2-byte */
		"\xdf\xbf",			/* U+07FF */
		"\xe0\xa0\x80",			/* U+0800, smallest 3-byte */
		"\xe2\x82\xac",			/* U+20AC */
		"\xed\x9f\xbf",			/* U+D7FF, below surrogates */
		"\xee\x80\x80",			/* U+E000, above surrogates */
		"\xef\xbf\xbf",			/* U+FFFF */
		"\xf0\x90\x80\x80",		/* U+10000 */
		"\xf0\x9f\x98\x80",		/* U+1F600 */
		"\xf4\x8f\xbf\xbf",		/* U+10FFFF, the last */
	};
	char	 want[32];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(want, sizeof want, "\"%s\"", ok[i]);
		assert_string_equal(js(ok[i], strlen(ok[i])), want);
	}
}

static void
json_invalid_utf8_becomes_replacement(void **state)
{
	static const struct {
		const char	*in, *want;
	} v[] = {
		{ "\x80", "\"\\ufffd\"" },			/* lone cont. */
		{ "a\xbf" "b", "\"a\\ufffdb\"" },
		{ "\xc0\x80", "\"\\ufffd\\ufffd\"" },		/* overlong NUL */
		{ "\xc1\xbf", "\"\\ufffd\\ufffd\"" },		/* overlong */
		{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },/* overlong / */
		{ "\xe0\x9f\xbf", "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "\xf0\x8f\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },/* U+D800 */
		{ "\xed\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\"" },/* U+DFFF */
		{ "\xf4\x90\x80\x80",
		  "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },		/* U+110000 */
		{ "\xf5\x80\x80\x80",
		  "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
		{ "\xfe", "\"\\ufffd\"" },
		{ "\xff", "\"\\ufffd\"" },
		{ "\xe2\x82", "\"\\ufffd\\ufffd\"" },		/* truncated */
		{ "\xe2\x82" "A", "\"\\ufffd\\ufffdA\"" },
		{ "\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "\xc3", "\"\\ufffd\"" },
		{ "\xc3" "\xc3\xa9", "\"\\ufffd\xc3\xa9\"" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++)
		assert_string_equal(js(v[i].in, strlen(v[i].in)), v[i].want);
}

/* What goes in as text comes out of a JSON parser unchanged. */
static void
json_round_trips_valid_text(void **state)
{
	static const char in[] = "He said \"<hi>\" \\ \x01\x1f\x7f "
	    "caf\xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbf end";
	char	 out[256];
	long	 n;

	(void)state;
	js(in, sizeof in - 1);
	n = jc_json_decode(b.data, b.len, out);
	assert_int_equal(n, (long)sizeof in - 1);
	assert_memory_equal(out, in, sizeof in - 1);
}

/* Random bytes: the output is always one valid JSON string. */
static void
json_output_is_always_valid(void **state)
{
	unsigned char	 in[64];
	char		 out[64 * 6 + 8];
	size_t		 n;
	int		 round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		n = randombytes_uniform(sizeof in + 1);
		randombytes_buf(in, n);
		/* Bias toward the interesting bytes. */
		if (round % 2)
			for (size_t i = 0; i < n; i++)
				in[i] = (unsigned char)(0x7c + in[i] % 0x84);
		js((const char *)in, n);
		if (jc_json_decode(b.data, b.len, out) < 0)
			fail_msg("invalid JSON for round %d: %s", round,
			    buf_cstr(&b));
		/* Valid input must survive unchanged. */
		if (jc_utf8_valid(in, n)) {
			long	 k = jc_json_decode(b.data, b.len, out);

			assert_int_equal(k, (long)n);
			assert_memory_equal(out, in, n);
		}
	}
}

static void
json_string_appends(void **state)
{
	(void)state;
	buf_reset(&b);
	buf_puts(&b, "{\"k\":");
	json_string(&b, "v", 1);
	buf_putc(&b, '}');
	assert_string_equal(buf_cstr(&b), "{\"k\":\"v\"}");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(html_escapes_the_five_characters),
		cmocka_unit_test(html_passes_everything_else_through),
		cmocka_unit_test(html_escape_appends_and_respects_len),
		cmocka_unit_test(html_escape_long_input),
		cmocka_unit_test(json_quotes_and_backslash),
		cmocka_unit_test(json_control_characters_are_escaped),
		cmocka_unit_test(json_markup_and_line_separators_are_escaped),
		cmocka_unit_test(json_strict_refuses_invalid_utf8),
		cmocka_unit_test(json_valid_utf8_is_kept),
		cmocka_unit_test(json_invalid_utf8_becomes_replacement),
		cmocka_unit_test(json_round_trips_valid_text),
		cmocka_unit_test(json_output_is_always_valid),
		cmocka_unit_test(json_string_appends),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("html", tests, setup, teardown);
}
