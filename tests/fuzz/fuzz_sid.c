/*
 * fuzz_sid.c - sid_verify() on any cookie value, in both forms: 87
 * characters for a signed-in session, 88 for a guest or remembered one
 * (which carries its kind).
 *
 * 1. The input itself as a cookie: if it verifies, it must be the one
 *    canonical spelling (re-encoding the sid gives the input back), at the
 *    length of its kind.
 * 2. From the input, real cookies: bytes 0-31 are the ID, byte 32 picks the
 *    key (bit 0) and the second kind (bit 1: guest or remembered; the
 *    first is always a signed-in session, so inputs kept from before the
 *    long form replay as they did); the following byte pairs (position,
 *    byte) edit each cookie. An edited cookie that still verifies must
 *    equal the original: no second spelling of a session, and no forgery.
 * 3. A real cookie's bytes in the other form's frame (a kind byte put in,
 *    the input's last byte, or taken out) never verify.
 */
#include "fuzz.h"
#include "sid.h"

static size_t
kind_len(uint8_t kind)
{
	return kind == SID_USER ? SID_COOKIE_LEN : SID_KIND_COOKIE_LEN;
}

static void
check_cookie(const struct keyring *kr, const uint8_t *data, size_t size,
    uint8_t kind)
{
	struct sid		 s, got;
	unsigned char		 raw[SID_KIND_RAW_BYTES], re[SID_KIND_RAW_BYTES];
	char			 c[SID_COOKIE_MAX + 1], e[SID_COOKIE_MAX + 1];
	char			 hash[SID_HASH_LEN + 1];
	size_t			 i, len, n;

	memcpy(s.id, data, SID_BYTES);
	s.kid = (uint8_t)(1 + (data[SID_BYTES] & 1));
	s.kind = kind;
	FUZZ_CHECK(sid_encode(&s, kr, c, sizeof c) == 0);
	len = strlen(c);
	FUZZ_CHECK(len == kind_len(kind));
	FUZZ_CHECK(sid_verify(&got, kr, c, len) == 0);
	FUZZ_CHECK(got.kid == s.kid && got.kind == kind &&
	    memcmp(got.id, s.id, SID_BYTES) == 0);
	FUZZ_CHECK(sid_hash(&s, hash, sizeof hash) == 0);

	memcpy(e, c, sizeof e);
	for (i = SID_BYTES + 1; i + 1 < size && i < SID_BYTES + 1 + 16; i += 2)
		e[data[i] % len] = (char)data[i + 1];
	if (sid_verify(&got, kr, e, len) == 0) {
		if (memcmp(e, c, len) != 0) {
			fprintf(stderr, "edited cookie verified:\n  %s\n  ", c);
			for (i = 0; i < len; i++)
				fprintf(stderr, (unsigned char)e[i] < 0x80 ?
				    "%c" : "\\x%02x", (unsigned char)e[i]);
			fprintf(stderr, "\n");
		}
		FUZZ_CHECK(memcmp(e, c, len) == 0);
	}

	n = (size_t)b64url_decode(raw, sizeof raw, c, len);
	re[0] = raw[0];
	if (kind == SID_USER) {
		FUZZ_CHECK(n == SID_RAW_BYTES);
		re[1] = data[size - 1];
		memcpy(re + 2, raw + 1, n - 1);
		n++;
	} else {
		FUZZ_CHECK(n == SID_KIND_RAW_BYTES);
		memcpy(re + 1, raw + 2, n - 2);
		n--;
	}
	FUZZ_CHECK(b64url_encode(e, sizeof e, re, n) == 0);
	FUZZ_CHECK(sid_verify(&got, kr, e, strlen(e)) != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct keyring	*kr = fuzz_keyring();
	struct sid		 got;
	char			 c[SID_COOKIE_MAX + 1];

	data = FUZZ_DATA(data, size);
	if (sid_verify(&got, kr, (const char *)data, size) == 0) {
		FUZZ_CHECK(got.kind <= SID_REMEMBERED);
		FUZZ_CHECK(size == kind_len(got.kind));
		FUZZ_CHECK(sid_encode(&got, kr, c, sizeof c) == 0);
		FUZZ_CHECK(strlen(c) == size && memcmp(c, data, size) == 0);
	}
	if (size < SID_BYTES + 1)
		return 0;
	check_cookie(kr, data, size, SID_USER);
	check_cookie(kr, data, size,
	    data[SID_BYTES] & 2 ? SID_REMEMBERED : SID_GUEST);
	return 0;
}
