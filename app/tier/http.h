/*
 * http.h - parsers for what arrives from outside: percent-encoding, query
 * strings and form bodies (application/x-www-form-urlencoded), and the Cookie
 * header. Each is a small state machine over a length-delimited input that
 * rejects rather than guesses, with a named limit on every count and length.
 * Decoded strings are allocated from the request's arena.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

struct arena;

#define HTTP_MAX_FIELDS		64	/* fields in a query or form */
#define HTTP_MAX_NAME		64	/* bytes of a field name, decoded */
#define HTTP_MAX_COOKIES	64	/* cookies in one header */

struct http_field {
	const char	*name;
	const char	*value;
	size_t		 value_len;	/* values may hold NUL bytes */
};

struct http_fields {
	size_t			n;
	struct http_field	f[HTTP_MAX_FIELDS];
};

enum http_error {
	HTTP_OK = 0,
	HTTP_BAD_ENCODING,	/* malformed percent-encoding */
	HTTP_TOO_MANY,		/* more than HTTP_MAX_FIELDS */
	HTTP_NAME_TOO_LONG,
	HTTP_BAD_FIELD,		/* empty name */
	HTTP_NUL_IN_VALUE,	/* a value that decodes to a NUL byte: C
				   strings would cut it short */
};

const char *http_strerror(enum http_error);

/*
 * Decodes %XX and '+' (as a space when plus_is_space). Returns the decoded
 * length, or -1 on a '%' not followed by two hex digits. out needs len + 1
 * bytes; the result is NUL-terminated.
 */
long	http_percent_decode(char *out, const char *in, size_t len,
	    int plus_is_space);
/* Splits "a=1&b=2" into fields. An empty input yields zero fields. */
enum http_error http_parse_form(struct http_fields *, struct arena *,
	    const char *in, size_t len);
/* The first field called name, or NULL. */
const struct http_field *http_field_get(const struct http_fields *,
	    const char *name);
/*
 * Finds the cookie called name in a Cookie header ("a=1; b=2"). Returns
 * 1 and points *value and *vlen into the header when found, 0 when not. Values
 * are not decoded: ours are base64url.
 */
int	http_cookie_get(const char *header, size_t len, const char *name,
	    const char **value, size_t *vlen);

#endif
