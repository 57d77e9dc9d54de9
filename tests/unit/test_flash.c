/*
 * test_flash.c - flash.h: one-time messages in a signed cookie.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "arena.h"
#include "b64url.h"
#include "config.h"
#include "flash.h"
#include "keyring.h"
#include "request.h"
#include "sid.h"
#include "unit.h"

#define RAW_MAX		(6 + FLASH_TEXT_MAX + 64 + crypto_auth_BYTES)
#define VALUE_MAX	B64URL_LEN(RAW_MAX)

static const uint8_t ids_a[] = { 1 };
static const uint8_t ids_b[] = { 2 };
static const uint8_t ids_ba[] = { 2, 1 };

/* A thread as the worker sets one up, with only what flash.c reads: the
 * settings, a keyring and the request memory. Keyrings [1], [2], [2, 1]. */
struct fixture {
	struct config		 cfg;
	struct keyring		 a, b, ba;
	struct thread_ctx	 t;
	char			 header[2 * VALUE_MAX];
};

static int
setup(void **state)
{
	static struct fixture	 f;
	char			 err[512];

	memset(&f, 0, sizeof f);
	if (unit_clear_env() != 0 ||
	    config_load(&f.cfg, err, sizeof err) != 0)
		return -1;
	if (unit_keyring(&f.a, ids_a, 1) != 0 ||
	    unit_keyring(&f.b, ids_b, 1) != 0 ||
	    unit_keyring(&f.ba, ids_ba, 2) != 0)
		return -1;
	f.t.cfg = &f.cfg;
	f.t.keys = &f.a;
	arena_init(&f.t.arena);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	arena_free(&f->t.arena);
	keyring_free(&f->a);
	keyring_free(&f->b);
	keyring_free(&f->ba);
	config_free(&f->cfg);
	return 0;
}

/* A fresh request on the fixture's thread, signing and verifying with kr,
 * whose Cookie header is cookie (NULL for none). */
static void
req(struct fixture *f, struct shoal_req *r, const struct keyring *kr,
    const char *cookie)
{
	memset(r, 0, sizeof *r);
	f->t.keys = kr;
	r->t = &f->t;
	r->in.cookie = cookie;
}

/* A Cookie header with value as the flash cookie, between two others. */
static const char *
header_with(struct fixture *f, const char *value)
{
	int	 n;

	n = snprintf(f->header, sizeof f->header, "a=1; %s=%s; b=2",
	    f->cfg.flash_cookie, value);
	assert_true(n > 0 && (size_t)n < sizeof f->header);
	return f->header;
}

/* What flash_take gives for value on a fresh request verified by kr. */
static const char *
take(struct fixture *f, const struct keyring *kr, const char *value,
    const char **level)
{
	struct shoal_req	 r;
	const char		*text;

	req(f, &r, kr, header_with(f, value));
	*level = NULL;
	text = flash_take(&r, level);
	/* Shown or not, the cookie is cleared. */
	assert_int_equal(r.flash_read, 1);
	if (text != NULL)
		assert_non_null(*level);
	return text;
}

/* The value flash_encode makes under kr (arena memory). */
static char *
encode(struct fixture *f, const struct keyring *kr,
    enum shoal_flash_level level, const char *text)
{
	struct shoal_req	 r;
	char			*v;

	req(f, &r, kr, NULL);
	v = flash_encode(&r, level, text);
	assert_non_null(v);
	assert_true(strlen(v) > 0);
	assert_int_equal(strspn(v, unit_b64url_alphabet), strlen(v));
	return v;
}

/*
 * A value as flash.h spells it, signed here: key id, level, text, then
 * HMAC-SHA-512/256 under the key of "shoal-flash" (with its NUL) and the
 * rest. Lets a test sign what flash_encode never makes.
 */
static char *
sign_until(struct fixture *f, const struct keyring *kr, unsigned level,
    const void *text, size_t n, uint32_t expires)
{
	static const char		 label[] = "shoal-flash";
	const struct key		*k = keyring_signer(kr);
	crypto_auth_hmacsha512256_state	 st;
	unsigned char			 raw[RAW_MAX];
	char				 out[VALUE_MAX + 1];

	assert_true(n <= RAW_MAX - 6 - crypto_auth_BYTES);
	raw[0] = k->id;
	raw[1] = (unsigned char)level;
	raw[2] = (unsigned char)(expires >> 24);
	raw[3] = (unsigned char)(expires >> 16);
	raw[4] = (unsigned char)(expires >> 8);
	raw[5] = (unsigned char)expires;
	memcpy(raw + 6, text, n);
	crypto_auth_hmacsha512256_init(&st, k->bytes, sizeof k->bytes);
	crypto_auth_hmacsha512256_update(&st, (const unsigned char *)label,
	    sizeof label);
	crypto_auth_hmacsha512256_update(&st, raw, 6 + n);
	crypto_auth_hmacsha512256_final(&st, raw + 6 + n);
	assert_int_equal(b64url_encode(out, sizeof out, raw,
	    6 + n + crypto_auth_BYTES), 0);
	return arena_strdup(&f->t.arena, out);
}

/* As sign_until, good for the next minute. */
static char *
sign(struct fixture *f, const struct keyring *kr, unsigned level,
    const void *text, size_t n)
{
	return sign_until(f, kr, level, text, n,
	    (uint32_t)time(NULL) + FLASH_MAX_AGE);
}

/* A copy kept past its minute (replayed later) is not shown. */
static void
expired_value_is_refused(void **state)
{
	struct fixture	*f = *state;
	const char	*level;
	uint32_t	 now = (uint32_t)time(NULL);

	assert_non_null(take(f, &f->a, sign_until(f, &f->a, SHOAL_FLASH_INFO,
	    "fresh", 5, now + 5), &level));
	assert_null(take(f, &f->a, sign_until(f, &f->a, SHOAL_FLASH_INFO,
	    "stale", 5, now - 1), &level));
	assert_null(take(f, &f->a, sign_until(f, &f->a, SHOAL_FLASH_INFO,
	    "ancient", 7, 0), &level));
}

static void
message_comes_back_with_its_level(void **state)
{
	static const struct {
		enum shoal_flash_level	 level;
		const char		*name;
	} levels[] = {
		{ SHOAL_FLASH_INFO, "info" },
		{ SHOAL_FLASH_SUCCESS, "success" },
		{ SHOAL_FLASH_ERROR, "error" },
	};
	struct fixture	*f = *state;
	const char	*v, *text, *level;
	size_t		 i;

	assert_string_equal(f->cfg.flash_cookie, "__Host-sid_flash");
	for (i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		v = encode(f, &f->a, levels[i].level,
		    "Item added: pear \xc3\xa9.");
		text = take(f, &f->a, v, &level);
		assert_non_null(text);
		assert_string_equal(text, "Item added: pear \xc3\xa9.");
		assert_string_equal(level, levels[i].name);
	}
	/* The only cookie in the header, too. */
	v = encode(f, &f->a, SHOAL_FLASH_INFO, "hello");
	{
		struct shoal_req	 r;
		char			 h[VALUE_MAX + 64];

		snprintf(h, sizeof h, "%s=%s", f->cfg.flash_cookie, v);
		req(f, &r, &f->a, h);
		assert_string_equal(flash_take(&r, &level), "hello");
		assert_string_equal(level, "info");
	}
}

/* No flash cookie: nothing to show and nothing to clear. */
static void
no_cookie_no_message(void **state)
{
	struct fixture		*f = *state;
	struct shoal_req	 r;
	const char		*level = NULL;
	char			 h[VALUE_MAX + 64];

	req(f, &r, &f->a, NULL);
	assert_null(flash_take(&r, &level));
	assert_int_equal(r.flash_read, 0);
	req(f, &r, &f->a, "a=1; b=2");
	assert_null(flash_take(&r, &level));
	assert_int_equal(r.flash_read, 0);
	/* The session cookie is not the flash cookie. */
	snprintf(h, sizeof h, "%s=%s", f->cfg.session_cookie,
	    encode(f, &f->a, SHOAL_FLASH_INFO, "hello"));
	req(f, &r, &f->a, h);
	assert_null(flash_take(&r, &level));
	assert_int_equal(r.flash_read, 0);
	assert_null(level);
}

/* Every position, every other alphabet character; cut; lengthened. */
static void
tampered_value_is_refused(void **state)
{
	struct fixture	*f = *state;
	const char	*v, *level;
	char		 t[VALUE_MAX + 8];
	size_t		 len, pos, k;

	v = encode(f, &f->a, SHOAL_FLASH_SUCCESS, "Saved.");
	len = strlen(v);
	for (pos = 0; pos < len; pos++)
		for (k = 1; k < 64; k++) {
			memcpy(t, v, len + 1);
			t[pos] = unit_b64url_other(v[pos], k);
			if (take(f, &f->a, t, &level) != NULL)
				fail_msg("tampered value taken: position %zu, "
				    "'%c' -> '%c'", pos, v[pos], t[pos]);
		}
	for (k = 0; k < len; k++) {
		memcpy(t, v, k);
		t[k] = '\0';
		if (take(f, &f->a, t, &level) != NULL)
			fail_msg("value cut to %zu characters taken", k);
	}
	snprintf(t, sizeof t, "%sA", v);
	assert_null(take(f, &f->a, t, &level));
	snprintf(t, sizeof t, "%sAAAA", v);
	assert_null(take(f, &f->a, t, &level));
	assert_null(take(f, &f->a, "!!!!", &level));
}

/* At most FLASH_TEXT_MAX bytes, and never half a character. */
static void
long_text_is_cut_at_a_character_boundary(void **state)
{
	static const struct {
		size_t		 ascii;		/* 'a's first */
		const char	*tail;
		size_t		 kept;
	} cases[] = {
		{ 200, "", 200 },
		{ 200, "b", 200 },
		{ 300, "", 200 },
		{ 199, "\xc3\xa9", 199 },		/* U+00E9 across 200 */
		{ 198, "\xc3\xa9", 200 },		/* U+00E9 ends at 200 */
		{ 198, "\xe2\x82\xac", 198 },		/* U+20AC across 200 */
		{ 199, "\xe2\x82\xac", 199 },
		{ 197, "\xe2\x82\xac", 200 },
		{ 197, "\xf0\x9f\x8d\x90", 197 },	/* U+1F350 across 200 */
		{ 196, "\xf0\x9f\x8d\x90", 200 },
		{ 198, "\xc3\xa9\xc3\xa9", 200 },
	};
	struct fixture	*f = *state;
	char		 text[512];
	const char	*got, *level;
	size_t		 i, n;

	assert_int_equal(FLASH_TEXT_MAX, 200);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(text, 'a', cases[i].ascii);
		n = strlen(cases[i].tail);
		memcpy(text + cases[i].ascii, cases[i].tail, n + 1);
		got = take(f, &f->a, encode(f, &f->a, SHOAL_FLASH_INFO, text),
		    &level);
		assert_non_null(got);
		if (strlen(got) != cases[i].kept)
			fail_msg("case %zu: kept %zu bytes, want %zu", i,
			    strlen(got), cases[i].kept);
		assert_memory_equal(got, text, cases[i].kept);
	}
}

/* A control byte ends the text: no line breaks in a page's banner, and
 * nothing a header could be split with. */
static void
control_bytes_cut_the_text(void **state)
{
	static const struct {
		const char	*in, *kept;
	} cases[] = {
		{ "one\ntwo", "one" },
		{ "x\r\nSet-Cookie: y=1", "x" },
		{ "tab\there", "tab" },
		{ "del\x7fhere", "del" },
		{ "esc\x1b[31m", "esc" },
		{ "\x01start", "" },
		{ "caf\xc3\xa9 ok", "caf\xc3\xa9 ok" },
		{ "spaces  and ~ stay", "spaces  and ~ stay" },
	};
	struct fixture	*f = *state;
	const char	*got, *level;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = take(f, &f->a, encode(f, &f->a, SHOAL_FLASH_ERROR,
		    cases[i].in), &level);
		assert_non_null(got);
		assert_string_equal(got, cases[i].kept);
		assert_string_equal(level, "error");
	}
}

/* A value signed by a key the keyring does not hold, or by another key of
 * the same id, is nobody's message. Rotation works as for sessions. */
static void
only_our_keys_sign(void **state)
{
	struct fixture	*f = *state;
	struct keyring	 other;
	char		 text[256] = "", err[128];
	const char	*v, *level;

	v = encode(f, &f->b, SHOAL_FLASH_INFO, "from key 2");
	assert_null(take(f, &f->a, v, &level));
	assert_string_equal(take(f, &f->ba, v, &level), "from key 2");
	assert_string_equal(take(f, &f->b, v, &level), "from key 2");
	/* Signed by key 1 before the rotation: read while 1 is kept. */
	v = encode(f, &f->a, SHOAL_FLASH_INFO, "from key 1");
	assert_string_equal(take(f, &f->ba, v, &level), "from key 1");
	assert_null(take(f, &f->b, v, &level));
	/* Id 1, other bytes. */
	unit_key_line(text, sizeof text, 1, 9);
	assert_int_equal(keyring_parse(&other, text, err, sizeof err), 0);
	assert_null(take(f, &other, v, &level));
	keyring_free(&other);
}

/* The sign() of this file is flash.c's MAC; with it, values flash_encode
 * never makes. */
static void
unknown_level_is_refused(void **state)
{
	struct fixture		*f = *state;
	struct shoal_req	 r;
	const char		*level;
	unsigned		 l;

	assert_string_equal(sign(f, &f->a, SHOAL_FLASH_SUCCESS, "Saved.", 6),
	    encode(f, &f->a, SHOAL_FLASH_SUCCESS, "Saved."));
	for (l = 0; l < 256; l++) {
		const char	*got = take(f, &f->a, sign(f, &f->a, l,
		    "Saved.", 6), &level);

		if (l <= SHOAL_FLASH_ERROR) {
			assert_string_equal(got, "Saved.");
			continue;
		}
		if (got != NULL)
			fail_msg("level byte %u taken as \"%s\"", l, level);
	}
	req(f, &r, &f->a, NULL);
	assert_null(flash_encode(&r, (enum shoal_flash_level)3, "x"));
}

/* Signed text longer than the limit does not fit the reader: refused. */
static void
oversize_value_is_refused(void **state)
{
	struct fixture	*f = *state;
	char		 text[FLASH_TEXT_MAX + 64];
	const char	*level;

	memset(text, 'a', sizeof text);
	assert_non_null(take(f, &f->a, sign(f, &f->a, SHOAL_FLASH_INFO, text,
	    FLASH_TEXT_MAX), &level));
	assert_null(take(f, &f->a, sign(f, &f->a, SHOAL_FLASH_INFO, text,
	    FLASH_TEXT_MAX + 1), &level));
	assert_null(take(f, &f->a, sign(f, &f->a, SHOAL_FLASH_INFO, text,
	    sizeof text), &level));
}

/* Other signed values of ours are not messages: the label keeps them
 * apart, even where the layout would fit. */
static void
session_cookie_is_not_a_message(void **state)
{
	struct fixture	*f = *state;
	char		 c[SID_COOKIE_MAX + 1];
	const char	*level;
	struct sid	 s;
	int		 i;

	for (i = 0; i < 50; i++) {
		sid_new(&s, &f->a, i % 2 ? SID_GUEST : SID_USER);
		s.id[0] = (unsigned char)(i % 3);	/* a level byte */
		assert_int_equal(sid_encode(&s, &f->a, c, sizeof c), 0);
		assert_null(take(f, &f->a, c, &level));
	}
}

static void
shoal_flash_sets_the_cookie_value(void **state)
{
	struct fixture		*f = *state;
	struct shoal_req	 r;
	const char		*level;
	char			*v;

	req(f, &r, &f->a, NULL);
	shoal_flash(&r, SHOAL_FLASH_SUCCESS, "You are signed in.");
	assert_non_null(r.flash_out);
	v = r.flash_out;
	assert_string_equal(v, encode(f, &f->a, SHOAL_FLASH_SUCCESS,
	    "You are signed in."));
	assert_string_equal(take(f, &f->a, v, &level), "You are signed in.");
	assert_string_equal(level, "success");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(message_comes_back_with_its_level),
		cmocka_unit_test(no_cookie_no_message),
		cmocka_unit_test(tampered_value_is_refused),
		cmocka_unit_test(long_text_is_cut_at_a_character_boundary),
		cmocka_unit_test(control_bytes_cut_the_text),
		cmocka_unit_test(only_our_keys_sign),
		cmocka_unit_test(unknown_level_is_refused),
		cmocka_unit_test(expired_value_is_refused),
		cmocka_unit_test(oversize_value_is_refused),
		cmocka_unit_test(session_cookie_is_not_a_message),
		cmocka_unit_test(shoal_flash_sets_the_cookie_value),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("flash", tests, setup, teardown);
}
