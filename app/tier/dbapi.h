/*
 * dbapi.h - the database calls of shoal.h over db.h, and the result rows'
 * copy and encoding, which the cache (cache.c) keeps.
 */
#ifndef DBAPI_H
#define DBAPI_H

#include <stddef.h>

#include <libpq-fe.h>

#include "shoal.h"

struct arena;

#define DBAPI_ROWS_MAX_BYTES	(256 * 1024)	/* larger are not cached */

/* A result's rows, copied into the arena. */
struct shoal_rows *dbapi_rows(struct arena *, const PGresult *);
/* Rows as bytes and back (NULL: not rows this build wrote). */
unsigned char	*dbapi_rows_encode(struct arena *, const struct shoal_rows *,
		    size_t *len);
struct shoal_rows *dbapi_rows_decode(struct arena *, const unsigned char *,
		    size_t len);

/* After the handler: rolls back (and logs) a transaction it left open. */
void	dbapi_request_end(struct shoal_req *);

#endif
