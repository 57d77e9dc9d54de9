/*
 * b64url.h - base64url without padding (RFC 4648 section 5), strict: no
 * padding, no white space, no trailing bits. Thin wrappers over libsodium's
 * codec that pin the variant and the size arithmetic in one place.
 */
#ifndef B64URL_H
#define B64URL_H

#include <stddef.h>

/* Characters needed to encode n bytes, without the NUL. */
#define B64URL_LEN(n)	(((n) / 3) * 4 + (((n) % 3) ? ((n) % 3) + 1 : 0))

/* Writes B64URL_LEN(len) characters and a NUL into out (outsz must fit). */
int	b64url_encode(char *out, size_t outsz, const unsigned char *in,
	    size_t len) __attribute__((warn_unused_result));
/*
 * Decodes exactly inlen characters into out. Returns the number of bytes
 * written, or -1 when the input is not canonical base64url or would not fit.
 */
long	b64url_decode(unsigned char *out, size_t outsz, const char *in,
	    size_t inlen) __attribute__((warn_unused_result));

#endif
