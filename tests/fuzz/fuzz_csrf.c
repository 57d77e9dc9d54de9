/*
 * fuzz_csrf.c - csrf_session_check() and csrf_anon_check() on any token.
 *
 * Input: bytes 0-31 a session ID, bytes 32-47 the anonymous nonce (mapped
 * onto the base64url alphabet), bytes 48-55 the clock (0 to 2^62); the rest, as a
 * NUL-terminated string, is offered as a token of both kinds, and its byte
 * pairs (position, byte) edit real tokens. Properties: a token passes only
 * if it is exactly the one the key would make (no forgery, no second
 * spelling), tokens of one kind never pass as the other, and an anonymous
 * token dies at its expiry.
 */
#include "csrf.h"
#include "fuzz.h"
#include "sid.h"

#define HEAD	(SID_BYTES + 16 + 8)

/* A token that passed must be what the key makes for its own expiry. */
static void
check_anon_canonical(const struct keyring *kr, const char *nonce,
    const char *tok)
{
	unsigned char	 raw[CSRF_RAW_BYTES];
	char		 again[CSRF_TOKEN_LEN + 1];
	uint64_t	 expiry = 0;
	size_t		 i;

	FUZZ_CHECK(strlen(tok) == CSRF_TOKEN_LEN);
	FUZZ_CHECK(b64url_decode(raw, sizeof raw, tok, CSRF_TOKEN_LEN) ==
	    CSRF_RAW_BYTES);
	for (i = 0; i < 8; i++)
		expiry = expiry << 8 | raw[1 + i];
	FUZZ_CHECK(csrf_anon_token(kr, nonce,
	    (int64_t)expiry - CSRF_ANON_LIFETIME, again, sizeof again) == 0);
	if (strcmp(again, tok) != 0)
		fprintf(stderr, "token passed but is not canonical:\n  %s\n",
		    again);
	FUZZ_CHECK(strcmp(again, tok) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct keyring	*kr = fuzz_keyring();
	struct sid		 s;
	char			 nonce[CSRF_NONCE_LEN + 1];
	char			 st[CSRF_TOKEN_LEN + 1], at[CSRF_TOKEN_LEN + 1];
	char			 e[CSRF_TOKEN_LEN + 1], *tok;
	int64_t			 now = 0;
	size_t			 i;

	data = FUZZ_DATA(data, size);
	if (size < HEAD)
		return 0;
	memcpy(s.id, data, SID_BYTES);
	s.kid = 1;
	for (i = 0; i < CSRF_NONCE_LEN; i++)
		nonce[i] = fuzz_b64url_alphabet[data[SID_BYTES + i % 16] % 64];
	nonce[CSRF_NONCE_LEN] = '\0';
	/* A clock from 0 to 2^62: never negative, never near overflow. */
	for (i = 0; i < 8; i++)
		now = (int64_t)(((uint64_t)now << 8 | data[SID_BYTES + 16 + i]) &
		    (((uint64_t)1 << 62) - 1));

	FUZZ_CHECK(csrf_session_token(kr, &s, st, sizeof st) == 0);
	FUZZ_CHECK(csrf_anon_token(kr, nonce, now, at, sizeof at) == 0);
	FUZZ_CHECK(csrf_session_check(kr, &s, st) == 0);
	FUZZ_CHECK(csrf_anon_check(kr, nonce, at, now) == 0);
	FUZZ_CHECK(csrf_anon_check(kr, nonce, at,
	    now + CSRF_ANON_LIFETIME) != 0);
	FUZZ_CHECK(csrf_session_check(kr, &s, at) != 0);
	FUZZ_CHECK(csrf_anon_check(kr, nonce, st, now) != 0);

	/* The rest of the input as a token. */
	tok = malloc(size - HEAD + 1);
	FUZZ_CHECK(tok != NULL);
	memcpy(tok, data + HEAD, size - HEAD);
	tok[size - HEAD] = '\0';
	if (csrf_session_check(kr, &s, tok) == 0)
		FUZZ_CHECK(strcmp(tok, st) == 0);
	if (csrf_anon_check(kr, nonce, tok, now) == 0)
		check_anon_canonical(kr, nonce, tok);
	free(tok);

	/* Edited real tokens. */
	memcpy(e, st, sizeof e);
	for (i = HEAD; i + 1 < size && i < HEAD + 16; i += 2)
		e[data[i] % CSRF_TOKEN_LEN] = (char)(data[i + 1] ? data[i + 1] :
		    'A');
	if (csrf_session_check(kr, &s, e) == 0)
		FUZZ_CHECK(strcmp(e, st) == 0);
	memcpy(e, at, sizeof e);
	for (i = HEAD; i + 1 < size && i < HEAD + 16; i += 2)
		e[data[i] % CSRF_TOKEN_LEN] = (char)(data[i + 1] ? data[i + 1] :
		    'A');
	if (csrf_anon_check(kr, nonce, e, now) == 0) {
		check_anon_canonical(kr, nonce, e);
		FUZZ_CHECK(strcmp(e, at) == 0);
	}
	return 0;
}
