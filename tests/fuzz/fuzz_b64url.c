/*
 * fuzz_b64url.c - b64url_decode() on any bytes: what decodes must be the
 * canonical encoding of what it decodes to, and the decoder never writes
 * past outsz. Every cookie and token goes through this decoder first.
 */
#include "b64url.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	*out;
	char		*enc;
	size_t		 outsz = size + 1;
	long		 n, m;

	data = FUZZ_DATA(data, size);
	fuzz_init();
	out = malloc(outsz);
	FUZZ_CHECK(out != NULL);
	n = b64url_decode(out, outsz, (const char *)data, size);
	if (n >= 0) {
		FUZZ_CHECK(B64URL_LEN((size_t)n) == size);
		enc = malloc(size + 1);
		FUZZ_CHECK(enc != NULL);
		FUZZ_CHECK(b64url_encode(enc, size + 1, out, (size_t)n) == 0);
		if (memcmp(enc, data, size) != 0)
			fprintf(stderr, "decoded, but re-encodes as \"%s\"\n",
			    enc);
		FUZZ_CHECK(memcmp(enc, data, size) == 0);
		free(enc);
		/* Exactly enough room is enough; one byte less is not. */
		if (n > 0) {
			m = b64url_decode(out, (size_t)n - 1,
			    (const char *)data, size);
			FUZZ_CHECK(m == -1);
		}
	}
	free(out);
	return 0;
}
