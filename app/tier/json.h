/*
 * json.h - the JSON writer of shoal.h (struct shoal_json): a document
 * written call by call into a buffer on the request's arena, every misuse
 * remembered with its reason instead of written.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

#include "buf.h"

struct arena;

#define JSON_MAX_DEPTH	16	/* objects and arrays open at once */

struct shoal_json {
	struct buf	 out;		/* grows in the arena */
	const char	*error;		/* the first misuse, or NULL */
	size_t		 depth;
	char		 open[JSON_MAX_DEPTH];	/* '}' or ']' to close each */
	int		 empty;		/* the innermost has no member yet */
	int		 done;		/* the top-level value is complete */
};

/* Starts an empty document whose text grows in a. */
void		 json_init(struct shoal_json *, struct arena *a);
/*
 * The document, NUL-terminated, with its length in *len; or NULL with the
 * misuse in *why (also a document left unfinished or never started).
 */
const char	*json_result(struct shoal_json *, size_t *len,
		    const char **why) __attribute__((warn_unused_result));

#endif
