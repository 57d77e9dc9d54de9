/*
 * route.h - route patterns: the path of a route in the route table, with
 * parameters. Pure functions of their arguments, no request state.
 *
 * A pattern starts with "/" and is made of segments between slashes, each
 * either a literal or a whole parameter:
 *
 *	/cart				literals only: the path must be equal
 *	/orders/{id:int}		a decimal integer segment
 *	/account/sessions/{id}/revoke	a text segment
 *
 * {name} matches one non-empty segment of up to ROUTE_MAX_SEGMENT bytes;
 * {name:int} one of the digits 0-9 only, without sign or leading zero ("0"
 * itself is fine), whose value fits in an int64_t. A segment that does not
 * fit its parameter makes the path not match the route: unless another
 * route matches, the visitor gets 404, never the handler.
 *
 * Names are [a-z_][a-z0-9_]*, unique in a pattern, at most ROUTE_MAX_PARAMS
 * of them. There are no wildcards. Literal segments hold only what RFC 3986
 * allows in a segment without percent-encoding, less '*'
 * (A-Z a-z 0-9 -._~!$&'()+,;=:@), and are never "." or "..". No segment is
 * empty, so no pattern but "/" ends in a slash, and "/a/" does not match
 * "/a" (nor "/a" "/a/").
 *
 * The path is the one the client sent (worker.c reads REQUEST_URI, which
 * neither front decodes nor normalises). Matching compares it as it is:
 * literals byte for byte (so "/c%61rt" is not "/cart"), integers as
 * digits (so "%31" is not 1). Text parameters are then percent-decoded
 * once (route_decode: "%20" is a space, "+" stays "+"); a value that is
 * malformed, or that decodes to "/" or NUL, is refused with 400 rather than
 * passed on. The segment limit applies to the value as sent.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

#define ROUTE_MAX_PARAMS	8	/* parameters in one pattern */
#define ROUTE_MAX_NAME		32	/* bytes of a parameter's name */
#define ROUTE_MAX_SEGMENT	256	/* bytes of a parameter, as sent */

/* One parameter of a match: spans into the pattern and into the path. */
struct route_param {
	const char	*name;		/* into the pattern, name_len bytes */
	size_t		 name_len;
	const char	*value;		/* into the path, value_len bytes */
	size_t		 value_len;
	int		 is_int;	/* {name:int} */
	int64_t		 num;		/* its value when is_int, else 0 */
};

struct route_params {
	size_t			n;
	struct route_param	p[ROUTE_MAX_PARAMS];
};

enum route_error {
	ROUTE_OK = 0,
	ROUTE_BAD_ENCODING,	/* a '%' not followed by two hex digits */
	ROUTE_BAD_BYTE,		/* decodes to '/' or NUL */
};

const char *route_strerror(enum route_error);

/* 0 when pattern is valid; else -1 and one line in err (without the
 * pattern: the caller names the route). */
int	route_pattern_check(const char *pattern, char *err, size_t errsz);
/* 1 when a valid pattern has parameters, 0 when it is a plain path. */
int	route_has_params(const char *pattern);
/* 1 when two valid patterns match the same paths: equal literals and
 * parameters of the same type in the same places, whatever their names. */
int	route_same(const char *a, const char *b);
/*
 * 1 when path matches the valid pattern, with its parameters in m in the
 * order of the pattern; 0 when not, with m->n == 0. Never reads past the
 * NUL of either string; on an invalid pattern the answer is unspecified
 * but the spans still lie inside path.
 */
int	route_match(const char *pattern, const char *path,
	    struct route_params *m);
/*
 * Percent-decodes a text parameter's value (len bytes) into out, which
 * needs len + 1 bytes, NUL-terminated; *outlen is its length.
 */
enum route_error route_decode(char *out, const char *value, size_t len,
	    size_t *outlen);
/*
 * Checks a route table (ended by a NULL path) at start: every method known,
 * every handler set, every pattern valid, no two routes with the same
 * method and the same pattern. 0, or -1 and one line naming the route.
 */
int	route_table_check(const struct shoal_route *, char *err, size_t errsz);

#endif
