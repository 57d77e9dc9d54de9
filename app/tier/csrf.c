/*
 * csrf.c - CSRF tokens (see csrf.h). Both kinds share one layout,
 * base64url(key id || 8-byte big-endian expiry || MAC), and differ in what
 * the MAC covers: the session ID, or the anonymous nonce. The label in front
 * of each MAC input keeps a token of one kind from passing as the other.
 *
 * The MAC is keyed BLAKE2b (crypto_generichash with the key), a PRF like
 * HMAC at a fraction of the cost of HMAC-SHA-512: a signed-in page carries a
 * token in its sign-out form, so one is made on nearly every request.
 */
#include <string.h>

#include <sodium.h>

#include "csrf.h"
#include "keyring.h"
#include "sid.h"

static void
token_mac(unsigned char mac[32], const struct key *k, const char *label,
    const unsigned char *head, const void *subject, size_t len)
{
	crypto_generichash_state	 st;

	crypto_generichash_init(&st, k->bytes, sizeof k->bytes, 32);
	crypto_generichash_update(&st, (const unsigned char *)label,
	    strlen(label) + 1);
	crypto_generichash_update(&st, head, 9);
	crypto_generichash_update(&st, subject, len);
	crypto_generichash_final(&st, mac, 32);
	sodium_memzero(&st, sizeof st);
}

static int
token_make(const struct key *k, const char *label, int64_t expiry,
    const void *subject, size_t len, char *out, size_t outsz)
{
	unsigned char	 raw[CSRF_RAW_BYTES];
	uint64_t	 e = (uint64_t)expiry;
	int		 i;

	raw[0] = k->id;
	for (i = 0; i < 8; i++)
		raw[1 + i] = (unsigned char)(e >> (56 - 8 * i));
	token_mac(raw + 9, k, label, raw, subject, len);
	return b64url_encode(out, outsz, raw, sizeof raw);
}

/* Returns the expiry in the token, or -1 when it does not verify. */
static int64_t
token_check(const struct keyring *kr, const char *label, const char *token,
    const void *subject, size_t len)
{
	unsigned char		 raw[CSRF_RAW_BYTES], mac[32];
	const struct key	*k;
	uint64_t		 e = 0;
	int			 i;

	if (token == NULL || strlen(token) != CSRF_TOKEN_LEN)
		return -1;
	if (b64url_decode(raw, sizeof raw, token, CSRF_TOKEN_LEN) !=
	    CSRF_RAW_BYTES)
		return -1;
	if ((k = keyring_find(kr, raw[0])) == NULL)
		return -1;
	token_mac(mac, k, label, raw, subject, len);
	if (sodium_memcmp(mac, raw + 9, sizeof mac) != 0)
		return -1;
	for (i = 0; i < 8; i++)
		e = e << 8 | raw[1 + i];
	return e > INT64_MAX ? -1 : (int64_t)e;
}

int
csrf_session_token(const struct keyring *kr, const struct sid *s, char *out,
    size_t outsz)
{
	const struct key *k = keyring_find(kr, s->kid);

	if (k == NULL)
		return -1;
	/* No expiry: the token dies with the session. */
	return token_make(k, "shoal-csrf-session", 0, s->id, sizeof s->id,
	    out, outsz);
}

int
csrf_session_check(const struct keyring *kr, const struct sid *s,
    const char *token)
{
	return token_check(kr, "shoal-csrf-session", token, s->id,
	    sizeof s->id) == 0 ? 0 : -1;
}

void
csrf_nonce_new(char *out, size_t outsz)
{
	unsigned char	 n[CSRF_NONCE_BYTES];

	randombytes_buf(n, sizeof n);
	if (b64url_encode(out, outsz, n, sizeof n) != 0 && outsz > 0)
		out[0] = '\0';
}

int
csrf_anon_token(const struct keyring *kr, const char *nonce, int64_t now,
    char *out, size_t outsz)
{
	return token_make(keyring_signer(kr), "shoal-csrf-anon",
	    now + CSRF_ANON_LIFETIME, nonce, strlen(nonce), out, outsz);
}

int
csrf_anon_check(const struct keyring *kr, const char *nonce,
    const char *token, int64_t now)
{
	int64_t	 expiry;

	if (nonce == NULL || strlen(nonce) != CSRF_NONCE_LEN)
		return -1;
	expiry = token_check(kr, "shoal-csrf-anon", token, nonce,
	    strlen(nonce));
	return (expiry < 0 || expiry <= now) ? -1 : 0;
}
