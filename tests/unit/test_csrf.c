/*
 * test_csrf.c - csrf.h: session-bound and anonymous (double-submit) tokens.
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
#include "csrf.h"
#include "keyring.h"
#include "sid.h"
#include "unit.h"

#define NOW	((int64_t)1700000000)

static const uint8_t ids_a[] = { 1 };
static const uint8_t ids_b[] = { 2 };
static const uint8_t ids_ba[] = { 2, 1 };

struct fixture {
	struct keyring	 a, b, ba;
	struct sid	 s;
	char		 nonce[CSRF_NONCE_LEN + 1];
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
	csrf_nonce_new(f.nonce, sizeof f.nonce);
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
session_token_verifies_for_its_sid(void **state)
{
	struct fixture	*f = *state;
	char		 t[CSRF_TOKEN_LEN + 1], t2[CSRF_TOKEN_LEN + 1];

	assert_int_equal(csrf_session_token(&f->a, &f->s, t, sizeof t), 0);
	assert_int_equal(strlen(t), CSRF_TOKEN_LEN);
	assert_int_equal(strspn(t, unit_b64url_alphabet), CSRF_TOKEN_LEN);
	assert_int_equal(csrf_session_check(&f->a, &f->s, t), 0);
	/* Stable: the same session always gets the same token. */
	assert_int_equal(csrf_session_token(&f->a, &f->s, t2, sizeof t2), 0);
	assert_string_equal(t, t2);
}

static void
session_token_fails_for_another_sid(void **state)
{
	struct fixture	*f = *state;
	char		 t[CSRF_TOKEN_LEN + 1];
	struct sid	 other = f->s, fresh;

	assert_int_equal(csrf_session_token(&f->a, &f->s, t, sizeof t), 0);
	other.id[0] ^= 0x80;
	assert_int_equal(csrf_session_check(&f->a, &other, t), -1);
	sid_new(&fresh, &f->a, SID_USER);
	assert_int_equal(csrf_session_check(&f->a, &fresh, t), -1);
}

static void
session_token_needs_its_key(void **state)
{
	struct fixture	*f = *state;
	char		 t[CSRF_TOKEN_LEN + 1];
	struct sid	 s2 = f->s;

	/* kid 1 is not in [2]: no token can be made. */
	assert_int_equal(csrf_session_token(&f->b, &f->s, t, sizeof t), -1);
	assert_int_equal(csrf_session_token(&f->a, &f->s, t, CSRF_TOKEN_LEN),
	    -1);
	/* Signed with key 1: valid while 1 is in the keyring, not after. */
	assert_int_equal(csrf_session_token(&f->a, &f->s, t, sizeof t), 0);
	assert_int_equal(csrf_session_check(&f->ba, &f->s, t), 0);
	assert_int_equal(csrf_session_check(&f->b, &f->s, t), -1);
	/* A session signed by key 2. */
	s2.kid = 2;
	assert_int_equal(csrf_session_token(&f->ba, &s2, t, sizeof t), 0);
	assert_int_equal(csrf_session_check(&f->b, &s2, t), 0);
	assert_int_equal(csrf_session_check(&f->a, &s2, t), -1);
}

static void
anon_token_verifies_with_its_nonce_until_expiry(void **state)
{
	struct fixture	*f = *state;
	char		 t[CSRF_TOKEN_LEN + 1];

	assert_int_equal(strlen(f->nonce), CSRF_NONCE_LEN);
	assert_int_equal(csrf_anon_token(&f->a, f->nonce, NOW, t, sizeof t), 0);
	assert_int_equal(strlen(t), CSRF_TOKEN_LEN);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, t, NOW), 0);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, t, NOW + 1), 0);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, t,
	    NOW + CSRF_ANON_LIFETIME - 1), 0);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, t,
	    NOW + CSRF_ANON_LIFETIME), -1);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, t,
	    NOW + CSRF_ANON_LIFETIME + 1), -1);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, t, INT64_MAX), -1);
}

static void
anon_token_fails_with_another_nonce(void **state)
{
	struct fixture	*f = *state;
	char		 t[CSRF_TOKEN_LEN + 1], other[CSRF_NONCE_LEN + 1];

	assert_int_equal(csrf_anon_token(&f->a, f->nonce, NOW, t, sizeof t), 0);
	csrf_nonce_new(other, sizeof other);
	assert_string_not_equal(other, f->nonce);
	assert_int_equal(csrf_anon_check(&f->a, other, t, NOW), -1);
	/* One character off. */
	memcpy(other, f->nonce, sizeof other);
	other[0] = unit_b64url_other(other[0], 1);
	assert_int_equal(csrf_anon_check(&f->a, other, t, NOW), -1);
	/* Missing, empty, short and long nonces. */
	assert_int_equal(csrf_anon_check(&f->a, NULL, t, NOW), -1);
	assert_int_equal(csrf_anon_check(&f->a, "", t, NOW), -1);
	memcpy(other, f->nonce, sizeof other);
	other[CSRF_NONCE_LEN - 1] = '\0';
	assert_int_equal(csrf_anon_check(&f->a, other, t, NOW), -1);
	{
		char	 longer[CSRF_NONCE_LEN + 2];

		snprintf(longer, sizeof longer, "%sA", f->nonce);
		assert_int_equal(csrf_anon_check(&f->a, longer, t, NOW), -1);
	}
}

static void
anon_token_needs_its_key(void **state)
{
	struct fixture	*f = *state;
	char		 t[CSRF_TOKEN_LEN + 1];

	assert_int_equal(csrf_anon_token(&f->a, f->nonce, NOW, t, sizeof t), 0);
	assert_int_equal(csrf_anon_check(&f->ba, f->nonce, t, NOW), 0);
	assert_int_equal(csrf_anon_check(&f->b, f->nonce, t, NOW), -1);
	/* [2, 1] signs with 2. */
	assert_int_equal(csrf_anon_token(&f->ba, f->nonce, NOW, t, sizeof t),
	    0);
	assert_int_equal(csrf_anon_check(&f->b, f->nonce, t, NOW), 0);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, t, NOW), -1);
}

/*
 * A token of one kind never passes as the other. The session token carries
 * expiry 0, so the anonymous check runs at a time before it (-1) to be sure
 * the MAC, not the clock, rejects it; and an anonymous token made so that
 * its expiry is 0 is offered to the session check.
 */
static void
session_and_anon_tokens_are_not_interchangeable(void **state)
{
	struct fixture	*f = *state;
	char		 st[CSRF_TOKEN_LEN + 1], at[CSRF_TOKEN_LEN + 1];
	char		 nonce[CSRF_NONCE_LEN + 1];
	struct sid	 s;
	unsigned char	 raw[CSRF_RAW_BYTES];
	size_t		 i;

	assert_int_equal(csrf_session_token(&f->a, &f->s, st, sizeof st), 0);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, st, -1), -1);
	/* Even with a nonce spelled from the sid's own bytes. */
	assert_int_equal(b64url_encode(nonce, sizeof nonce, f->s.id,
	    CSRF_NONCE_BYTES), 0);
	assert_int_equal(csrf_anon_check(&f->a, nonce, st, -1), -1);

	assert_int_equal(csrf_anon_token(&f->a, f->nonce, -CSRF_ANON_LIFETIME,
	    at, sizeof at), 0);
	assert_int_equal(b64url_decode(raw, sizeof raw, at, CSRF_TOKEN_LEN),
	    CSRF_RAW_BYTES);
	for (i = 1; i < 9; i++)
		assert_int_equal(raw[i], 0);		/* expiry 0 */
	assert_int_equal(csrf_session_check(&f->a, &f->s, at), -1);
	/* And a sid whose bytes start with the nonce. */
	s = f->s;
	memset(s.id, 0, sizeof s.id);
	memcpy(s.id, f->nonce, CSRF_NONCE_LEN);
	assert_int_equal(csrf_session_check(&f->a, &s, at), -1);
	/* Fresh anonymous tokens fail the session check too. */
	assert_int_equal(csrf_anon_token(&f->a, f->nonce, NOW, at, sizeof at),
	    0);
	assert_int_equal(csrf_session_check(&f->a, &f->s, at), -1);
}

/* Flip every position to every other alphabet character. */
static void
tampered_tokens_fail(void **state)
{
	struct fixture	*f = *state;
	char		 st[CSRF_TOKEN_LEN + 1], at[CSRF_TOKEN_LEN + 1];
	char		 t[CSRF_TOKEN_LEN + 1];
	size_t		 pos, k;

	assert_int_equal(csrf_session_token(&f->a, &f->s, st, sizeof st), 0);
	assert_int_equal(csrf_anon_token(&f->a, f->nonce, NOW, at, sizeof at),
	    0);
	for (pos = 0; pos < CSRF_TOKEN_LEN; pos++)
		for (k = 1; k < 64; k++) {
			memcpy(t, st, sizeof t);
			t[pos] = unit_b64url_other(st[pos], k);
			if (csrf_session_check(&f->a, &f->s, t) == 0)
				fail_msg("tampered session token passed at %zu",
				    pos);
			memcpy(t, at, sizeof t);
			t[pos] = unit_b64url_other(at[pos], k);
			if (csrf_anon_check(&f->a, f->nonce, t, NOW) == 0)
				fail_msg("tampered anon token passed at %zu",
				    pos);
		}
}

/* A later expiry cannot be written into a token without the key. */
static void
extended_expiry_fails(void **state)
{
	struct fixture	*f = *state;
	char		 at[CSRF_TOKEN_LEN + 1];
	unsigned char	 raw[CSRF_RAW_BYTES];

	assert_int_equal(csrf_anon_token(&f->a, f->nonce, NOW, at, sizeof at),
	    0);
	assert_int_equal(b64url_decode(raw, sizeof raw, at, CSRF_TOKEN_LEN),
	    CSRF_RAW_BYTES);
	raw[5] ^= 0x01;		/* expiry + 2^24 seconds */
	assert_int_equal(b64url_encode(at, sizeof at, raw, sizeof raw), 0);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, at,
	    NOW + CSRF_ANON_LIFETIME + 1), -1);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, at, NOW), -1);
}

static void
malformed_tokens_fail(void **state)
{
	struct fixture	*f = *state;
	char		 st[CSRF_TOKEN_LEN + 1], t[CSRF_TOKEN_LEN + 8];

	assert_int_equal(csrf_session_token(&f->a, &f->s, st, sizeof st), 0);
	assert_int_equal(csrf_session_check(&f->a, &f->s, NULL), -1);
	assert_int_equal(csrf_session_check(&f->a, &f->s, ""), -1);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, NULL, NOW), -1);
	assert_int_equal(csrf_anon_check(&f->a, f->nonce, "", NOW), -1);
	snprintf(t, sizeof t, "%s", st);
	t[CSRF_TOKEN_LEN - 1] = '\0';
	assert_int_equal(csrf_session_check(&f->a, &f->s, t), -1);
	snprintf(t, sizeof t, "%sA", st);
	assert_int_equal(csrf_session_check(&f->a, &f->s, t), -1);
	snprintf(t, sizeof t, "%sAAAA", st);
	assert_int_equal(csrf_session_check(&f->a, &f->s, t), -1);
	memset(t, 'A', CSRF_TOKEN_LEN);
	t[CSRF_TOKEN_LEN] = '\0';
	assert_int_equal(csrf_session_check(&f->a, &f->s, t), -1);
}

/* One token, one spelling: a non-ASCII byte in place of '_' must fail. */
static void
token_with_non_ascii_byte_fails(void **state)
{
	struct fixture	*f = *state;
	char		 t[CSRF_TOKEN_LEN + 1], *us;
	struct sid	 s;
	int		 tries = 0;

	do {
		sid_new(&s, &f->a, SID_USER);
		assert_int_equal(csrf_session_token(&f->a, &s, t, sizeof t), 0);
		assert_true(++tries < 1000);
	} while ((us = strchr(t, '_')) == NULL);
	*us = (char)0xff;
	if (csrf_session_check(&f->a, &s, t) == 0)
		fail_msg("token with 0xff in place of '_' at %td passed",
		    us - t);
}

static void
nonces_are_random_base64url(void **state)
{
	char		 n1[CSRF_NONCE_LEN + 1], n2[CSRF_NONCE_LEN + 1];
	unsigned char	 raw[CSRF_NONCE_BYTES];

	(void)state;
	csrf_nonce_new(n1, sizeof n1);
	csrf_nonce_new(n2, sizeof n2);
	assert_int_equal(strlen(n1), CSRF_NONCE_LEN);
	assert_string_not_equal(n1, n2);
	assert_int_equal(b64url_decode(raw, sizeof raw, n1, CSRF_NONCE_LEN),
	    CSRF_NONCE_BYTES);
	/* Too small: an empty string rather than a truncated nonce. */
	memset(n1, 'x', sizeof n1);
	csrf_nonce_new(n1, CSRF_NONCE_LEN);
	assert_string_equal(n1, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(session_token_verifies_for_its_sid),
		cmocka_unit_test(session_token_fails_for_another_sid),
		cmocka_unit_test(session_token_needs_its_key),
		cmocka_unit_test(anon_token_verifies_with_its_nonce_until_expiry),
		cmocka_unit_test(anon_token_fails_with_another_nonce),
		cmocka_unit_test(anon_token_needs_its_key),
		cmocka_unit_test(session_and_anon_tokens_are_not_interchangeable),
		cmocka_unit_test(tampered_tokens_fail),
		cmocka_unit_test(extended_expiry_fails),
		cmocka_unit_test(malformed_tokens_fail),
		cmocka_unit_test(token_with_non_ascii_byte_fails),
		cmocka_unit_test(nonces_are_random_base64url),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("csrf", tests, setup, teardown);
}
