/*
 * fuzz_percent.c - http_percent_decode() on any bytes. Properties: '+'
 * handling never changes validity or length; a valid input decodes to
 * len - 2 * (number of '%') bytes; the output re-encoded as %XX decodes back
 * to itself; nothing is written past out[len].
 */
#include "fuzz.h"
#include "http.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const char	*in = (const char *)data;
	char		*out0, *out1, *re, *back;
	long		 n0, n1, nb;
	size_t		 i, pct = 0;

	data = FUZZ_DATA(data, size);
	fuzz_init();
	out0 = malloc(size + 1);
	out1 = malloc(size + 1);
	FUZZ_CHECK(out0 != NULL && out1 != NULL);
	n0 = http_percent_decode(out0, in, size, 0);
	n1 = http_percent_decode(out1, in, size, 1);
	FUZZ_CHECK(n0 == n1);
	if (n0 >= 0) {
		for (i = 0; i < size; i++)
			pct += in[i] == '%';
		FUZZ_CHECK((size_t)n0 == size - 2 * pct);
		FUZZ_CHECK(out0[n0] == '\0' && out1[n1] == '\0');
		for (i = 0; i < (size_t)n0; i++)
			FUZZ_CHECK(out0[i] == out1[i] ||
			    (out1[i] == ' ' && out0[i] == '+'));
		re = malloc(3 * (size_t)n0 + 1);
		back = malloc(3 * (size_t)n0 + 1);
		FUZZ_CHECK(re != NULL && back != NULL);
		for (i = 0; i < (size_t)n0; i++) {
			unsigned char	 c = (unsigned char)out0[i];

			re[3 * i] = '%';
			re[3 * i + 1] = hex[c >> 4];
			re[3 * i + 2] = hex[c & 15];
		}
		nb = http_percent_decode(back, re, 3 * (size_t)n0, 1);
		FUZZ_CHECK(nb == n0);
		FUZZ_CHECK(memcmp(back, out0, (size_t)n0) == 0);
		free(re);
		free(back);
	}
	free(out0);
	free(out1);
	return 0;
}
