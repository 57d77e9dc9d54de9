/*
 * sid.c - signed session IDs (see sid.h).
 */
#include <stdio.h>
#include <string.h>

#include "keyring.h"
#include "sid.h"

/* Separates the MAC inputs of session IDs from those of other tokens. */
static const char sid_label[] = "shoal-sid";

static void
sid_mac(unsigned char mac[crypto_auth_BYTES], const struct key *k,
    const struct sid *s)
{
	crypto_auth_hmacsha512256_state	 st = k->keyed;

	crypto_auth_hmacsha512256_update(&st, (const unsigned char *)sid_label,
	    sizeof sid_label);
	crypto_auth_hmacsha512256_update(&st, &s->kid, 1);
	if (s->kind != SID_USER)
		crypto_auth_hmacsha512256_update(&st, &s->kind, 1);
	crypto_auth_hmacsha512256_update(&st, s->id, sizeof s->id);
	crypto_auth_hmacsha512256_final(&st, mac);
	sodium_memzero(&st, sizeof st);
}

void
sid_new(struct sid *s, const struct keyring *kr, enum sid_kind kind)
{
	s->kid = keyring_signer(kr)->id;
	s->kind = (uint8_t)kind;
	randombytes_buf(s->id, sizeof s->id);
}

int
sid_encode(const struct sid *s, const struct keyring *kr, char *out,
    size_t outsz)
{
	unsigned char		 raw[SID_KIND_RAW_BYTES];
	const struct key	*k = keyring_find(kr, s->kid);
	size_t			 n = 0;

	if (k == NULL || s->kind > SID_REMEMBERED)
		return -1;
	raw[n++] = s->kid;
	if (s->kind != SID_USER)
		raw[n++] = s->kind;
	memcpy(raw + n, s->id, SID_BYTES);
	n += SID_BYTES;
	sid_mac(raw + n, k, s);
	return b64url_encode(out, outsz, raw, n + crypto_auth_BYTES);
}

int
sid_verify(struct sid *s, const struct keyring *kr, const char *value,
    size_t len)
{
	unsigned char		 raw[SID_KIND_RAW_BYTES], mac[crypto_auth_BYTES];
	const struct key	*k;
	struct sid		 cand;
	size_t			 want, n = 1;

	if (len == SID_COOKIE_LEN)
		want = SID_RAW_BYTES;
	else if (len == SID_KIND_COOKIE_LEN)
		want = SID_KIND_RAW_BYTES;
	else
		return -1;
	if (b64url_decode(raw, sizeof raw, value, len) != (long)want)
		return -1;
	if ((k = keyring_find(kr, raw[0])) == NULL)
		return -1;
	cand.kid = raw[0];
	cand.kind = SID_USER;
	if (want == SID_KIND_RAW_BYTES) {
		/* The long form is only for the kinds that need it. */
		if (raw[1] != SID_GUEST && raw[1] != SID_REMEMBERED)
			return -1;
		cand.kind = raw[n++];
	}
	memcpy(cand.id, raw + n, SID_BYTES);
	sid_mac(mac, k, &cand);
	if (sodium_memcmp(mac, raw + n + SID_BYTES, sizeof mac) != 0)
		return -1;
	*s = cand;
	return 0;
}

/*
 * The store key hashes the ID with BLAKE2b. No key is needed: the ID is 256
 * random bits, so the hash cannot be inverted, and keeping the key out of it
 * means a key rotation does not move every session in Redis.
 */
int
sid_hash(const struct sid *s, char *out, size_t outsz)
{
	unsigned char	 h[SID_HASH_BYTES];

	crypto_generichash(h, sizeof h, s->id, sizeof s->id, NULL, 0);
	return b64url_encode(out, outsz, h, sizeof h);
}
