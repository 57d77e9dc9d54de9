/*
 * fuzz_json.c - json_string() and html_escape() on any bytes, as handlers
 * pass user text to them. Properties: json_string() always yields one valid
 * JSON string (checked by tests/unit/jsoncheck.h), well-formed UTF-8 input
 * comes back unchanged, and html_escape() leaves no markup character.
 */
#include "buf.h"
#include "fuzz.h"
#include "html.h"
#include "jsoncheck.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 b;
	char		*dec;
	long		 n;
	size_t		 i;

	data = FUZZ_DATA(data, size);
	fuzz_init();
	buf_init(&b);
	json_string(&b, (const char *)data, size);
	dec = malloc(3 * size + 1);
	FUZZ_CHECK(dec != NULL);
	n = jc_json_decode(b.data, b.len, dec);
	FUZZ_CHECK(n >= 0);
	if (jc_utf8_valid(data, size))
		FUZZ_CHECK((size_t)n == size && memcmp(dec, data, size) == 0);
	free(dec);

	buf_reset(&b);
	html_escape(&b, (const char *)data, size);
	(void)buf_cstr(&b);	/* a NUL after len, for the strncmp below */
	for (i = 0; i < b.len; i++) {
		FUZZ_CHECK(b.data[i] != '<' && b.data[i] != '>' &&
		    b.data[i] != '"' && b.data[i] != '\'');
		if (b.data[i] == '&')
			FUZZ_CHECK(strncmp(b.data + i, "&amp;", 5) == 0 ||
			    strncmp(b.data + i, "&lt;", 4) == 0 ||
			    strncmp(b.data + i, "&gt;", 4) == 0 ||
			    strncmp(b.data + i, "&quot;", 6) == 0 ||
			    strncmp(b.data + i, "&#39;", 5) == 0);
	}
	buf_free(&b);
	return 0;
}
