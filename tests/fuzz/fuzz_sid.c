/*
 * fuzz_sid.c - sid_verify() on any cookie value.
 *
 * 1. The input itself as a cookie: if it verifies, it must be the one
 *    canonical spelling (re-encoding the sid gives the input back).
 * 2. From the input, a real cookie: bytes 0-31 are the ID, byte 32 picks the
 *    key; the following byte pairs (position, byte) edit the cookie. An
 *    edited cookie that still verifies must equal the original: no second
 *    spelling of a session, and no forgery.
 */
#include "fuzz.h"
#include "sid.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct keyring	*kr = fuzz_keyring();
	struct sid		 s, got;
	char			 c[SID_COOKIE_LEN + 1], e[SID_COOKIE_LEN + 1];
	char			 hash[SID_HASH_LEN + 1];
	size_t			 i;

	data = FUZZ_DATA(data, size);
	if (sid_verify(&got, kr, (const char *)data, size) == 0) {
		FUZZ_CHECK(size == SID_COOKIE_LEN);
		FUZZ_CHECK(sid_encode(&got, kr, c, sizeof c) == 0);
		FUZZ_CHECK(memcmp(c, data, size) == 0);
	}
	if (size < SID_BYTES + 1)
		return 0;
	memcpy(s.id, data, SID_BYTES);
	s.kid = (uint8_t)(1 + (data[SID_BYTES] & 1));
	FUZZ_CHECK(sid_encode(&s, kr, c, sizeof c) == 0);
	FUZZ_CHECK(sid_verify(&got, kr, c, SID_COOKIE_LEN) == 0);
	FUZZ_CHECK(got.kid == s.kid && memcmp(got.id, s.id, SID_BYTES) == 0);
	FUZZ_CHECK(sid_hash(&s, hash, sizeof hash) == 0);

	memcpy(e, c, sizeof e);
	for (i = SID_BYTES + 1; i + 1 < size && i < SID_BYTES + 1 + 16; i += 2)
		e[data[i] % SID_COOKIE_LEN] = (char)data[i + 1];
	if (sid_verify(&got, kr, e, SID_COOKIE_LEN) == 0) {
		if (memcmp(e, c, SID_COOKIE_LEN) != 0) {
			fprintf(stderr, "edited cookie verified:\n  %s\n  ", c);
			for (i = 0; i < SID_COOKIE_LEN; i++)
				fprintf(stderr, (unsigned char)e[i] < 0x80 ?
				    "%c" : "\\x%02x", (unsigned char)e[i]);
			fprintf(stderr, "\n");
		}
		FUZZ_CHECK(memcmp(e, c, SID_COOKIE_LEN) == 0);
	}
	return 0;
}
