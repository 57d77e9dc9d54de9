/*
 * b64url.c - strict base64url over libsodium (see b64url.h).
 */
#include <string.h>

#include <sodium.h>

#include "b64url.h"

/* A-Z a-z 0-9 - _, by comparisons: no table indexed by a secret byte. */
static int
in_alphabet(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
b64url_encode(char *out, size_t outsz, const unsigned char *in, size_t len)
{
	if (outsz < B64URL_LEN(len) + 1)
		return -1;
	sodium_bin2base64(out, outsz, in, len,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

long
b64url_decode(unsigned char *out, size_t outsz, const char *in, size_t inlen)
{
	size_t		 n, i;
	const char	*end;

	/* A length of 1 mod 4 can never be valid base64. */
	if (inlen % 4 == 1)
		return -1;
	/* libsodium 1.0.18 reads bytes past 0x7f as '_': check the alphabet
	 * here so that every value has exactly one spelling. */
	for (i = 0; i < inlen; i++)
		if (!in_alphabet((unsigned char)in[i]))
			return -1;
	if (sodium_base642bin(out, outsz, in, inlen, NULL, &n, &end,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	if (end != in + inlen)
		return -1;
	return (long)n;
}
