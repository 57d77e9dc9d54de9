/*
 * fuzz_metrics_http.c - metrics_http_parse() on any bytes a client of the
 * metrics port could send. The input is copied to a buffer of its exact
 * size, so a read past it is caught. Properties: an answer other than
 * "read on" stands whatever bytes come after (the server answers at once);
 * only a request line "GET /metrics" is a scrape; a short input without
 * the end of a head is never "too large".
 */
#include "fuzz.h"
#include "metrics_server.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum metrics_http	 res, more;
	char			*buf;
	int			 ended = 0;
	size_t			 i;

	data = FUZZ_DATA(data, size);
	if ((buf = malloc(size + 8)) == NULL)
		return 0;
	memcpy(buf, data, size);
	res = metrics_http_parse(buf, size);
	FUZZ_CHECK(res >= METRICS_HTTP_INCOMPLETE &&
	    res <= METRICS_HTTP_TOO_LARGE);
	if (res == METRICS_HTTP_OK)
		FUZZ_CHECK(size >= 12 && memcmp(buf, "GET /metrics", 12) == 0);
	for (i = 0; i + 1 < size && !ended; i++)
		ended = buf[i] == '\n' && (buf[i + 1] == '\n' ||
		    (buf[i + 1] == '\r' && i + 2 < size && buf[i + 2] == '\n'));
	if (res == METRICS_HTTP_TOO_LARGE)
		FUZZ_CHECK(size >= METRICS_HEAD_MAX || ended);
	if (res != METRICS_HTTP_INCOMPLETE) {
		memcpy(buf + size, "\r\n\r\nGET ", 8);
		more = metrics_http_parse(buf, size + 8);
		FUZZ_CHECK(more == res);
	}
	free(buf);
	return 0;
}
