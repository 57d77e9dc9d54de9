/*
 * test_sid.c - sid.h: signed session IDs and their Redis keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "b64url.h"
#include "keyring.h"
#include "keys.h"
#include "sid.h"
#include "unit.h"

static const uint8_t ids_a[] = { 1 };
static const uint8_t ids_b[] = { 2 };
static const uint8_t ids_ba[] = { 2, 1 };

/* A sid signed by key 1, its cookie, and keyrings [1], [2], [2, 1]. */
struct fixture {
	struct keyring	 a, b, ba;
	struct sid	 s;
	char		 cookie[SID_COOKIE_LEN + 1];
};

static int
setup(void **state)
{
	static struct fixture	 f;

	memset(&f, 0, sizeof f);
	if (unit_keyring(&f.a, ids_a, 1) != 0 ||
	    unit_keyring(&f.b, ids_b, 1) != 0 ||
	    unit_keyring(&f.ba, ids_ba, 2) != 0)
		return -1;
	sid_new(&f.s, &f.a, SID_USER);
	if (sid_encode(&f.s, &f.a, f.cookie, sizeof f.cookie) != 0)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	keyring_free(&f->a);
	keyring_free(&f->b);
	keyring_free(&f->ba);
	return 0;
}

static void
sign_verify_round_trip(void **state)
{
	struct fixture	*f = *state;
	struct sid	 got;

	assert_int_equal(f->s.kid, 1);
	assert_int_equal(strlen(f->cookie), SID_COOKIE_LEN);
	assert_int_equal(SID_COOKIE_LEN, 87);
	assert_int_equal(strspn(f->cookie, unit_b64url_alphabet),
	    SID_COOKIE_LEN);
	memset(&got, 0, sizeof got);
	assert_int_equal(sid_verify(&got, &f->a, f->cookie, SID_COOKIE_LEN), 0);
	assert_int_equal(got.kid, f->s.kid);
	assert_memory_equal(got.id, f->s.id, SID_BYTES);
}

static void
new_ids_are_random_and_signed_by_first_key(void **state)
{
	struct fixture	*f = *state;
	struct sid	 s1, s2;

	sid_new(&s1, &f->ba, SID_USER);
	sid_new(&s2, &f->ba, SID_USER);
	assert_int_equal(s1.kid, 2);
	assert_int_equal(s2.kid, 2);
	assert_memory_not_equal(s1.id, s2.id, SID_BYTES);
}

/* Every position, every other alphabet character: never verifies. */
static void
any_tampered_character_fails(void **state)
{
	struct fixture	*f = *state;
	char		 t[SID_COOKIE_LEN + 1];
	struct sid	 got;
	size_t		 pos, k;

	for (pos = 0; pos < SID_COOKIE_LEN; pos++)
		for (k = 1; k < 64; k++) {
			memcpy(t, f->cookie, sizeof t);
			t[pos] = unit_b64url_other(f->cookie[pos], k);
			if (sid_verify(&got, &f->ba, t, SID_COOKIE_LEN) == 0)
				fail_msg("tampered cookie verified: position "
				    "%zu, '%c' -> '%c'", pos, f->cookie[pos],
				    t[pos]);
		}
}

/*
 * A byte outside the alphabet in place of a '_' must not verify: one
 * session must have exactly one cookie spelling.
 */
static void
cookie_with_non_ascii_byte_fails(void **state)
{
	struct fixture	*f = *state;
	char		 c[SID_COOKIE_LEN + 1];
	struct sid	 s, got;
	char		*us;
	int		 tries = 0;

	/* A cookie with a '_' in it (most have one). */
	do {
		sid_new(&s, &f->a, SID_USER);
		assert_int_equal(sid_encode(&s, &f->a, c, sizeof c), 0);
		assert_true(++tries < 1000);
	} while ((us = strchr(c, '_')) == NULL);
	assert_int_equal(sid_verify(&got, &f->a, c, SID_COOKIE_LEN), 0);
	*us = (char)0xdf;
	if (sid_verify(&got, &f->a, c, SID_COOKIE_LEN) == 0)
		fail_msg("cookie with byte 0xdf in place of '_' at position "
		    "%td verified", us - c);
}

/* Same bytes, flipped after decoding and re-encoded canonically. */
static void
any_flipped_bit_fails(void **state)
{
	struct fixture	*f = *state;
	unsigned char	 raw[SID_RAW_BYTES];
	char		 t[SID_COOKIE_LEN + 1];
	struct sid	 got;
	size_t		 bit;

	assert_int_equal(b64url_decode(raw, sizeof raw, f->cookie,
	    SID_COOKIE_LEN), SID_RAW_BYTES);
	for (bit = 0; bit < 8 * SID_RAW_BYTES; bit++) {
		raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_int_equal(b64url_encode(t, sizeof t, raw, sizeof raw), 0);
		if (sid_verify(&got, &f->ba, t, SID_COOKIE_LEN) == 0)
			fail_msg("cookie with bit %zu flipped verified", bit);
		raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
}

static void
unknown_key_id_fails(void **state)
{
	struct fixture	*f = *state;
	struct sid	 got;

	assert_int_equal(sid_verify(&got, &f->b, f->cookie, SID_COOKIE_LEN),
	    -1);
}

/* Same key bytes under a different id: the id is covered by the MAC. */
static void
key_id_is_authenticated(void **state)
{
	struct fixture	*f = *state;
	struct keyring	 twin;
	char		 text[512] = "", err[128];
	unsigned char	 raw[SID_RAW_BYTES];
	char		 t[SID_COOKIE_LEN + 1];
	struct sid	 got;

	/* Keys 1 and 3 hold the same bytes. */
	unit_key_line(text, sizeof text, 1, 0);
	{
		char	 line[256];

		snprintf(line, sizeof line, "3%s", strchr(text, ' '));
		strcat(text, line);
	}
	assert_int_equal(keyring_parse(&twin, text, err, sizeof err), 0);
	assert_int_equal(twin.n, 2);
	assert_int_equal(sid_verify(&got, &twin, f->cookie, SID_COOKIE_LEN), 0);
	assert_int_equal(b64url_decode(raw, sizeof raw, f->cookie,
	    SID_COOKIE_LEN), SID_RAW_BYTES);
	raw[0] = 3;
	assert_int_equal(b64url_encode(t, sizeof t, raw, sizeof raw), 0);
	assert_int_equal(sid_verify(&got, &twin, t, SID_COOKIE_LEN), -1);
	keyring_free(&twin);
}

/* Same id, other key bytes: a key that was replaced. */
static void
other_key_with_same_id_fails(void **state)
{
	struct fixture	*f = *state;
	struct keyring	 other;
	char		 text[256] = "", err[128];
	struct sid	 got;

	unit_key_line(text, sizeof text, 1, 9);
	assert_int_equal(keyring_parse(&other, text, err, sizeof err), 0);
	assert_int_equal(sid_verify(&got, &other, f->cookie, SID_COOKIE_LEN),
	    -1);
	keyring_free(&other);
}

static void
rotation_old_key_still_verifies_until_dropped(void **state)
{
	struct fixture	*f = *state;
	struct sid	 got;

	assert_int_equal(sid_verify(&got, &f->ba, f->cookie, SID_COOKIE_LEN),
	    0);
	assert_int_equal(got.kid, 1);
	assert_memory_equal(got.id, f->s.id, SID_BYTES);
	assert_int_equal(sid_verify(&got, &f->b, f->cookie, SID_COOKIE_LEN),
	    -1);
	/* And a cookie signed after the rotation verifies with [2, 1] only. */
	{
		struct sid	 s;
		char		 c[SID_COOKIE_LEN + 1];

		sid_new(&s, &f->ba, SID_USER);
		assert_int_equal(sid_encode(&s, &f->ba, c, sizeof c), 0);
		assert_int_equal(sid_verify(&got, &f->ba, c, SID_COOKIE_LEN), 0);
		assert_int_equal(sid_verify(&got, &f->b, c, SID_COOKIE_LEN), 0);
		assert_int_equal(sid_verify(&got, &f->a, c, SID_COOKIE_LEN),
		    -1);
	}
}

static void
wrong_lengths_fail(void **state)
{
	struct fixture	*f = *state;
	char		 t[SID_COOKIE_LEN + 8];
	struct sid	 got;

	assert_int_equal(sid_verify(&got, &f->a, f->cookie,
	    SID_COOKIE_LEN - 1), -1);
	assert_int_equal(sid_verify(&got, &f->a, f->cookie, 0), -1);
	assert_int_equal(sid_verify(&got, &f->a, "", 0), -1);
	snprintf(t, sizeof t, "%sA", f->cookie);
	assert_int_equal(sid_verify(&got, &f->a, t, SID_COOKIE_LEN + 1), -1);
	snprintf(t, sizeof t, "%sAAAA", f->cookie);
	assert_int_equal(sid_verify(&got, &f->a, t, SID_COOKIE_LEN + 4), -1);
	/* Shortened by a character from the front, too. */
	assert_int_equal(sid_verify(&got, &f->a, f->cookie + 1,
	    SID_COOKIE_LEN - 1), -1);
}

/* The value points into a Cookie header: only len bytes count. */
static void
verify_reads_only_len_bytes(void **state)
{
	struct fixture	*f = *state;
	char		 h[SID_COOKIE_LEN + 16];
	struct sid	 got;

	snprintf(h, sizeof h, "%s; b=2", f->cookie);
	assert_int_equal(sid_verify(&got, &f->a, h, SID_COOKIE_LEN), 0);
}

static void
encode_checks_key_and_room(void **state)
{
	struct fixture	*f = *state;
	char		 c[SID_COOKIE_LEN + 1];
	struct sid	 s = f->s;

	assert_int_equal(sid_encode(&s, &f->a, c, SID_COOKIE_LEN), -1);
	assert_int_equal(sid_encode(&s, &f->b, c, sizeof c), -1);
	s.kid = 0;
	assert_int_equal(sid_encode(&s, &f->ba, c, sizeof c), -1);
}

static const enum sid_kind all_kinds[] = {
	SID_USER, SID_GUEST, SID_REMEMBERED,
};

/* A fresh cookie of a kind signed by key 1; returns its length. */
static size_t
cookie_of_kind(struct fixture *f, enum sid_kind kind, struct sid *s,
    char c[SID_COOKIE_MAX + 1])
{
	sid_new(s, &f->a, kind);
	assert_int_equal(sid_encode(s, &f->a, c, SID_COOKIE_MAX + 1), 0);
	return strlen(c);
}

/*
 * The MAC as sid.h spells it: HMAC-SHA-512/256 under the key of the label
 * "shoal-sid" (with its NUL) and the bytes before the MAC. Lets a test sign
 * layouts sid_encode never makes, to show that sid_verify refuses them for
 * their layout and not for their MAC.
 */
static void
sign_raw(const struct keyring *kr, unsigned char *raw, size_t n)
{
	static const char		 label[] = "shoal-sid";
	const struct key		*k = keyring_find(kr, raw[0]);
	crypto_auth_hmacsha512256_state	 st;

	assert_non_null(k);
	crypto_auth_hmacsha512256_init(&st, k->bytes, sizeof k->bytes);
	crypto_auth_hmacsha512256_update(&st, (const unsigned char *)label,
	    sizeof label);
	crypto_auth_hmacsha512256_update(&st, raw, n);
	crypto_auth_hmacsha512256_final(&st, raw + n);
}

/* Signs raw[0..n) and writes the cookie; returns its length. */
static size_t
cookie_of_raw(const struct keyring *kr, unsigned char *raw, size_t n,
    char c[SID_COOKIE_MAX + 1])
{
	sign_raw(kr, raw, n);
	assert_int_equal(b64url_encode(c, SID_COOKIE_MAX + 1, raw,
	    n + crypto_auth_BYTES), 0);
	return strlen(c);
}

/* A signed-in session keeps the short form; the others carry their kind. */
static void
every_kind_round_trips_at_its_length(void **state)
{
	struct fixture	*f = *state;
	char		 c[SID_COOKIE_MAX + 1];
	struct sid	 s, got;
	size_t		 i, len, want;

	assert_int_equal(SID_KIND_COOKIE_LEN, 88);
	assert_int_equal(SID_COOKIE_MAX, 88);
	for (i = 0; i < sizeof all_kinds / sizeof all_kinds[0]; i++) {
		want = all_kinds[i] == SID_USER ? SID_COOKIE_LEN :
		    SID_KIND_COOKIE_LEN;
		len = cookie_of_kind(f, all_kinds[i], &s, c);
		assert_int_equal(s.kind, all_kinds[i]);
		assert_int_equal(len, want);
		assert_int_equal(strspn(c, unit_b64url_alphabet), len);
		memset(&got, 0xaa, sizeof got);
		assert_int_equal(sid_verify(&got, &f->ba, c, len), 0);
		assert_int_equal(got.kid, 1);
		assert_int_equal(got.kind, all_kinds[i]);
		assert_memory_equal(got.id, s.id, SID_BYTES);
		/* Re-encoded, the same cookie. */
		{
			char	 again[SID_COOKIE_MAX + 1];

			assert_int_equal(sid_encode(&got, &f->a, again,
			    sizeof again), 0);
			assert_string_equal(again, c);
		}
		/* Only at its own length. */
		assert_int_equal(sid_verify(&got, &f->a, c, len - 1), -1);
		/* Room for the characters but not the NUL. */
		assert_int_equal(sid_encode(&s, &f->a, c, want), -1);
	}
	/* The sign_raw of this file is sid.c's MAC. */
	{
		unsigned char	 raw[SID_KIND_RAW_BYTES];
		char		 t[SID_COOKIE_MAX + 1];

		for (i = 0; i < sizeof all_kinds / sizeof all_kinds[0]; i++) {
			size_t	 n = 0;

			len = cookie_of_kind(f, all_kinds[i], &s, c);
			raw[n++] = s.kid;
			if (all_kinds[i] != SID_USER)
				raw[n++] = s.kind;
			memcpy(raw + n, s.id, SID_BYTES);
			n += SID_BYTES;
			assert_int_equal(cookie_of_raw(&f->a, raw, n, t), len);
			assert_string_equal(t, c);
		}
	}
}

static void
encode_refuses_unknown_kind(void **state)
{
	struct fixture	*f = *state;
	char		 c[SID_COOKIE_MAX + 1];
	struct sid	 s = f->s;

	s.kind = 3;
	assert_int_equal(sid_encode(&s, &f->a, c, sizeof c), -1);
	s.kind = 255;
	assert_int_equal(sid_encode(&s, &f->a, c, sizeof c), -1);
}

/*
 * The long form is only for guest and remembered sessions: kind byte 0 (a
 * second spelling of a signed-in session) or an unknown kind is refused
 * even under a MAC our key made.
 */
static void
long_form_with_other_kind_byte_fails(void **state)
{
	static const uint8_t	 bad[] = { SID_USER, 3, 4, 0x80, 0xff };
	struct fixture		*f = *state;
	unsigned char		 raw[SID_KIND_RAW_BYTES];
	char			 c[SID_COOKIE_MAX + 1];
	struct sid		 got;
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		raw[0] = 1;
		raw[1] = bad[i];
		memcpy(raw + 2, f->s.id, SID_BYTES);
		assert_int_equal(cookie_of_raw(&f->a, raw, 2 + SID_BYTES, c),
		    SID_KIND_COOKIE_LEN);
		if (sid_verify(&got, &f->ba, c, SID_KIND_COOKIE_LEN) == 0)
			fail_msg("long form with kind byte %u verified",
			    bad[i]);
	}
	/* The same layout with a kind that needs it verifies. */
	raw[1] = SID_GUEST;
	assert_int_equal(cookie_of_raw(&f->a, raw, 2 + SID_BYTES, c),
	    SID_KIND_COOKIE_LEN);
	assert_int_equal(sid_verify(&got, &f->ba, c, SID_KIND_COOKIE_LEN), 0);
	assert_int_equal(got.kind, SID_GUEST);
}

/* A guest cannot make itself a remembered session: the MAC covers the
 * kind, and the same for every other change of kind. */
static void
changed_kind_byte_fails(void **state)
{
	struct fixture	*f = *state;
	unsigned char	 raw[SID_KIND_RAW_BYTES];
	char		 c[SID_COOKIE_MAX + 1], t[SID_COOKIE_MAX + 1];
	struct sid	 s, got;
	size_t		 i, j;

	for (i = 1; i < sizeof all_kinds / sizeof all_kinds[0]; i++)
		for (j = 1; j < sizeof all_kinds / sizeof all_kinds[0]; j++) {
			if (i == j)
				continue;
			assert_int_equal(cookie_of_kind(f, all_kinds[i], &s, c),
			    SID_KIND_COOKIE_LEN);
			assert_int_equal(b64url_decode(raw, sizeof raw, c,
			    SID_KIND_COOKIE_LEN), SID_KIND_RAW_BYTES);
			assert_int_equal(raw[1], all_kinds[i]);
			raw[1] = (unsigned char)all_kinds[j];
			assert_int_equal(b64url_encode(t, sizeof t, raw,
			    sizeof raw), 0);
			if (sid_verify(&got, &f->ba, t,
			    SID_KIND_COOKIE_LEN) == 0)
				fail_msg("kind %d cookie verified as kind %d",
				    all_kinds[i], all_kinds[j]);
		}
}

/*
 * One form's bytes in the other's frame: a signed-in cookie with a kind
 * byte put in (any kind), and a guest or remembered cookie with its kind
 * byte taken out. None verifies: no session has two spellings, and no
 * kind is had for a cookie of another.
 */
static void
reframed_cookie_fails(void **state)
{
	struct fixture	*f = *state;
	unsigned char	 raw[SID_KIND_RAW_BYTES], re[SID_KIND_RAW_BYTES];
	char		 c[SID_COOKIE_MAX + 1], t[SID_COOKIE_MAX + 1];
	struct sid	 s, got;
	unsigned	 kind;
	size_t		 i;

	assert_int_equal(b64url_decode(raw, sizeof raw, f->cookie,
	    SID_COOKIE_LEN), SID_RAW_BYTES);
	for (kind = 0; kind < 256; kind++) {
		re[0] = raw[0];
		re[1] = (unsigned char)kind;
		memcpy(re + 2, raw + 1, SID_RAW_BYTES - 1);
		assert_int_equal(b64url_encode(t, sizeof t, re, sizeof re), 0);
		if (sid_verify(&got, &f->ba, t, SID_KIND_COOKIE_LEN) == 0)
			fail_msg("signed-in cookie verified with kind byte %u "
			    "put in", kind);
	}
	for (i = 1; i < sizeof all_kinds / sizeof all_kinds[0]; i++) {
		assert_int_equal(cookie_of_kind(f, all_kinds[i], &s, c),
		    SID_KIND_COOKIE_LEN);
		assert_int_equal(b64url_decode(raw, sizeof raw, c,
		    SID_KIND_COOKIE_LEN), SID_KIND_RAW_BYTES);
		re[0] = raw[0];
		memcpy(re + 1, raw + 2, SID_KIND_RAW_BYTES - 2);
		assert_int_equal(b64url_encode(t, sizeof t, re, SID_RAW_BYTES),
		    0);
		if (sid_verify(&got, &f->ba, t, SID_COOKIE_LEN) == 0)
			fail_msg("kind %d cookie verified with its kind byte "
			    "taken out", all_kinds[i]);
	}
}

/* The tampering tests above, on the long form. */
static void
long_form_tampering_fails(void **state)
{
	struct fixture	*f = *state;
	unsigned char	 raw[SID_KIND_RAW_BYTES];
	char		 c[SID_COOKIE_MAX + 1], t[SID_COOKIE_MAX + 1];
	struct sid	 s, got;
	size_t		 pos, k, bit;

	assert_int_equal(cookie_of_kind(f, SID_GUEST, &s, c),
	    SID_KIND_COOKIE_LEN);
	for (pos = 0; pos < SID_KIND_COOKIE_LEN; pos++)
		for (k = 1; k < 64; k++) {
			memcpy(t, c, sizeof t);
			t[pos] = unit_b64url_other(c[pos], k);
			if (sid_verify(&got, &f->ba, t,
			    SID_KIND_COOKIE_LEN) == 0)
				fail_msg("tampered guest cookie verified: "
				    "position %zu, '%c' -> '%c'", pos, c[pos],
				    t[pos]);
		}
	assert_int_equal(b64url_decode(raw, sizeof raw, c,
	    SID_KIND_COOKIE_LEN), SID_KIND_RAW_BYTES);
	for (bit = 0; bit < 8 * SID_KIND_RAW_BYTES; bit++) {
		raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_int_equal(b64url_encode(t, sizeof t, raw, sizeof raw), 0);
		if (sid_verify(&got, &f->ba, t, SID_KIND_COOKIE_LEN) == 0)
			fail_msg("guest cookie with bit %zu flipped verified",
			    bit);
		raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	/* Signed by key 1: not in [2]. */
	assert_int_equal(sid_verify(&got, &f->b, c, SID_KIND_COOKIE_LEN), -1);
}

/* The kind does not move the session in Redis: only the ID names it. */
static void
hash_does_not_depend_on_kind(void **state)
{
	struct fixture	*f = *state;
	char		 h1[SID_HASH_LEN + 1], h2[SID_HASH_LEN + 1];
	struct sid	 s = f->s;

	assert_int_equal(sid_hash(&s, h1, sizeof h1), 0);
	s.kind = SID_REMEMBERED;
	assert_int_equal(sid_hash(&s, h2, sizeof h2), 0);
	assert_string_equal(h1, h2);
}

/* The Redis key of a session, as session.c builds it. */
static void
store_key(const struct sid *s, const char *prefix, char *out, size_t outsz)
{
	char			 hash[SID_HASH_LEN + 1];
	struct redis_key	 k;

	assert_int_equal(sid_hash(s, hash, sizeof hash), 0);
	key_session(&k, prefix, hash);
	assert_true(strlen(k.s) < outsz);
	memcpy(out, k.s, strlen(k.s) + 1);
}

static void
store_key_has_prefix_and_hash_tag(void **state)
{
	struct fixture	*f = *state;
	char		 key[KEY_MAX + 16];
	size_t		 n;

	store_key(&f->s, "shoal:", key, sizeof key);
	n = strlen(key);
	assert_int_equal(n, strlen("shoal:s:{") + B64URL_LEN(SID_HASH_BYTES) +
	    1);
	assert_memory_equal(key, "shoal:s:{", 9);
	assert_int_equal(key[n - 1], '}');
	/* Exactly one tag, and its content is base64url. */
	assert_ptr_equal(strchr(key, '{'), strrchr(key, '{'));
	assert_ptr_equal(strchr(key, '}'), key + n - 1);
	assert_int_equal(strspn(key + 9, unit_b64url_alphabet),
	    B64URL_LEN(SID_HASH_BYTES));
	/* Empty prefix. */
	store_key(&f->s, "", key, sizeof key);
	assert_memory_equal(key, "s:{", 3);
	assert_int_equal(strlen(key), 3 + B64URL_LEN(SID_HASH_BYTES) + 1);
}

/* Neither the cookie nor the raw ID, in any spelling we can check. */
static void
store_key_does_not_reveal_the_id(void **state)
{
	struct fixture	*f = *state;
	char		 key[KEY_MAX + 16];
	char		 enc[B64URL_LEN(SID_BYTES) + 1];
	char		 hex[2 * SID_BYTES + 1];
	size_t		 i;

	store_key(&f->s, "p:", key, sizeof key);
	assert_int_equal(b64url_encode(enc, sizeof enc, f->s.id, SID_BYTES), 0);
	sodium_bin2hex(hex, sizeof hex, f->s.id, SID_BYTES);
	/* Any 8 consecutive characters of these would be a leak. */
	for (i = 0; i + 8 <= strlen(f->cookie); i++)
		assert_null(memmem(key, strlen(key), f->cookie + i, 8));
	for (i = 0; i + 8 <= strlen(enc); i++)
		assert_null(memmem(key, strlen(key), enc + i, 8));
	for (i = 0; i + 8 <= strlen(hex); i++)
		assert_null(memmem(key, strlen(key), hex + i, 8));
	for (i = 0; i + 4 <= SID_BYTES; i++)
		assert_null(memmem(key, strlen(key), f->s.id + i, 4));
}

static void
store_key_is_stable_per_id_and_distinct_across_ids(void **state)
{
	struct fixture	*f = *state;
	char		 k1[KEY_MAX + 16], k2[KEY_MAX + 16];
	struct sid	 other = f->s, rotated = f->s;

	store_key(&f->s, "x:", k1, sizeof k1);
	store_key(&f->s, "x:", k2, sizeof k2);
	assert_string_equal(k1, k2);
	/* The key that signed does not move the session. */
	rotated.kid = 2;
	store_key(&rotated, "x:", k2, sizeof k2);
	assert_string_equal(k1, k2);
	other.id[SID_BYTES - 1] ^= 1;
	store_key(&other, "x:", k2, sizeof k2);
	assert_string_not_equal(k1, k2);
	{
		struct sid	 s;
		int		 i;

		for (i = 0; i < 100; i++) {
			sid_new(&s, &f->a, SID_USER);
			store_key(&s, "x:", k2, sizeof k2);
			assert_string_not_equal(k1, k2);
		}
	}
}

/* sid_hash is the part between the braces. */
static void
hash_is_the_tag_of_the_store_key(void **state)
{
	struct fixture	*f = *state;
	char		 hash[SID_HASH_LEN + 1], key[KEY_MAX + 16];
	char		 key2[KEY_MAX + 16], want[KEY_MAX + 16];
	struct sid	 other = f->s;

	assert_int_equal(SID_HASH_LEN, 22);
	assert_int_equal(sid_hash(&f->s, hash, sizeof hash), 0);
	assert_int_equal(strlen(hash), SID_HASH_LEN);
	assert_int_equal(strspn(hash, unit_b64url_alphabet), SID_HASH_LEN);
	store_key(&f->s, "pre:", key, sizeof key);
	snprintf(want, sizeof want, "pre:s:{%s}", hash);
	assert_string_equal(key, want);
	/* Too small for the hash and its NUL. */
	assert_int_equal(sid_hash(&f->s, hash, SID_HASH_LEN), -1);
	/* A different ID, a different hash. */
	other.id[0] ^= 1;
	assert_int_equal(sid_hash(&other, key2, sizeof key2), 0);
	assert_string_not_equal(key2, hash);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sign_verify_round_trip),
		cmocka_unit_test(new_ids_are_random_and_signed_by_first_key),
		cmocka_unit_test(any_tampered_character_fails),
		cmocka_unit_test(cookie_with_non_ascii_byte_fails),
		cmocka_unit_test(any_flipped_bit_fails),
		cmocka_unit_test(unknown_key_id_fails),
		cmocka_unit_test(key_id_is_authenticated),
		cmocka_unit_test(other_key_with_same_id_fails),
		cmocka_unit_test(rotation_old_key_still_verifies_until_dropped),
		cmocka_unit_test(wrong_lengths_fail),
		cmocka_unit_test(verify_reads_only_len_bytes),
		cmocka_unit_test(encode_checks_key_and_room),
		cmocka_unit_test(every_kind_round_trips_at_its_length),
		cmocka_unit_test(encode_refuses_unknown_kind),
		cmocka_unit_test(long_form_with_other_kind_byte_fails),
		cmocka_unit_test(changed_kind_byte_fails),
		cmocka_unit_test(reframed_cookie_fails),
		cmocka_unit_test(long_form_tampering_fails),
		cmocka_unit_test(hash_does_not_depend_on_kind),
		cmocka_unit_test(store_key_has_prefix_and_hash_tag),
		cmocka_unit_test(store_key_does_not_reveal_the_id),
		cmocka_unit_test(store_key_is_stable_per_id_and_distinct_across_ids),
		cmocka_unit_test(hash_is_the_tag_of_the_store_key),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("sid", tests, setup, teardown);
}
