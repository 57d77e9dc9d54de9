/*
 * dbapi.c - the database for an app's handlers (shoal.h): reads with
 * read-your-writes, transactions on the primary whose commit the session
 * remembers, and results copied out of libpq into the request's arena.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "dbapi.h"
#include "log.h"
#include "request.h"
#include "ryw.h"

struct shoal_tx {
	struct shoal_req	*r;
	struct db		*db;
	int			 open;
};

struct shoal_rows *
dbapi_rows(struct arena *a, const PGresult *res)
{
	struct shoal_rows	*rows = arena_calloc(a, 1, sizeof *rows);
	int			 i, j;

	rows->nrows = PQntuples(res);
	rows->ncols = PQnfields(res);
	rows->cols = arena_calloc(a, (size_t)rows->ncols + 1,
	    sizeof *rows->cols);
	rows->v = arena_calloc(a, (size_t)rows->nrows * (size_t)rows->ncols + 1,
	    sizeof *rows->v);
	for (j = 0; j < rows->ncols; j++)
		rows->cols[j] = arena_strdup(a, PQfname(res, j));
	for (i = 0; i < rows->nrows; i++)
		for (j = 0; j < rows->ncols; j++)
			rows->v[i * rows->ncols + j] =
			    PQgetisnull(res, i, j) ? NULL : arena_strndup(a,
			    PQgetvalue(res, i, j),
			    (size_t)PQgetlength(res, i, j));
	return rows;
}

const char *
shoal_row_str(const struct shoal_rows *rows, int row, int col)
{
	if (rows == NULL || row < 0 || col < 0 || row >= rows->nrows ||
	    col >= rows->ncols)
		return NULL;
	return rows->v[row * rows->ncols + col];
}

int64_t
shoal_row_int(const struct shoal_rows *rows, int row, int col)
{
	const char	*s = shoal_row_str(rows, row, col);
	char		*end;
	long long	 n;

	if (s == NULL || *s == '\0')
		return 0;
	n = strtoll(s, &end, 10);
	return *end == '\0' ? (int64_t)n : 0;
}

/*
 * The encoding the cache keeps: "R1", the counts, then each column name
 * and value as a 4-byte length (0xffffffff: NULL) and its bytes.
 */
static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

unsigned char *
dbapi_rows_encode(struct arena *a, const struct shoal_rows *rows,
    size_t *len)
{
	size_t		 n = 10, k, cells = (size_t)rows->nrows * rows->ncols;
	unsigned char	*out, *p;
	int		 j;

	for (j = 0; j < rows->ncols; j++)
		n += 4 + strlen(rows->cols[j]);
	for (k = 0; k < cells; k++)
		n += 4 + (rows->v[k] ? strlen(rows->v[k]) : 0);
	p = out = arena_alloc(a, n);
	*p++ = 'R';
	*p++ = '1';
	put32(p, (uint32_t)rows->ncols);
	put32(p + 4, (uint32_t)rows->nrows);
	p += 8;
	for (j = 0; j < rows->ncols; j++) {
		put32(p, (uint32_t)strlen(rows->cols[j]));
		memcpy(p + 4, rows->cols[j], strlen(rows->cols[j]));
		p += 4 + strlen(rows->cols[j]);
	}
	for (k = 0; k < cells; k++) {
		if (rows->v[k] == NULL) {
			put32(p, 0xffffffffu);
			p += 4;
			continue;
		}
		put32(p, (uint32_t)strlen(rows->v[k]));
		memcpy(p + 4, rows->v[k], strlen(rows->v[k]));
		p += 4 + strlen(rows->v[k]);
	}
	*len = n;
	return out;
}

/* One length-prefixed string at *p, within end. */
static int
take(struct arena *a, const unsigned char **p, const unsigned char *end,
    const char **out, int nullable)
{
	uint32_t	 n;

	if (end - *p < 4)
		return -1;
	n = get32(*p);
	*p += 4;
	if (n == 0xffffffffu) {
		*out = NULL;
		return nullable ? 0 : -1;
	}
	if ((size_t)(end - *p) < n || memchr(*p, '\0', n) != NULL)
		return -1;
	*out = arena_strndup(a, (const char *)*p, n);
	*p += n;
	return 0;
}

struct shoal_rows *
dbapi_rows_decode(struct arena *a, const unsigned char *b, size_t len)
{
	const unsigned char	*p = b + 10, *end = b + len;
	struct shoal_rows	*rows;
	uint32_t		 ncols, nrows;
	size_t			 k, cells;
	int			 j;

	if (len < 10 || b[0] != 'R' || b[1] != '1')
		return NULL;
	ncols = get32(b + 2);
	nrows = get32(b + 6);
	/* Each cell takes 4 bytes at least: counts past that are lies. */
	if (ncols > 1600 || (uint64_t)ncols * nrows > len / 4)
		return NULL;
	cells = (size_t)ncols * nrows;
	rows = arena_calloc(a, 1, sizeof *rows);
	rows->ncols = (int)ncols;
	rows->nrows = (int)nrows;
	rows->cols = arena_calloc(a, ncols + 1, sizeof *rows->cols);
	rows->v = arena_calloc(a, cells + 1, sizeof *rows->v);
	for (j = 0; j < rows->ncols; j++)
		if (take(a, &p, end, &rows->cols[j], 0) != 0)
			return NULL;
	for (k = 0; k < cells; k++)
		if (take(a, &p, end, &rows->v[k], 1) != 0)
			return NULL;
	return p == end ? rows : NULL;
}

void
dbapi_request_end(struct shoal_req *r)
{
	struct db	*db = db_thread();

	/* Left open, it would hold a server connection of PgBouncer's, and
	 * its locks, until this thread's next request. */
	if (db_in_tx(db)) {
		log_event("error", "handler for %s left a database transaction "
		    "open: rolled back", r->in.path);
		db_rollback(db);
	}
}

/* A transaction a handler left open ends with the next use. */
static struct db *
thread_db(void)
{
	struct db	*db = db_thread();

	if (db_in_tx(db)) {
		log_event("error", "a database transaction was left open: "
		    "rolled back");
		db_rollback(db);
	}
	return db;
}

enum shoal_status
shoal_db_read(struct shoal_req *r, const char *sql, int nparams,
    const char *const *params, struct shoal_rows **out)
{
	struct db	*db = thread_db();
	PGresult	*res;

	*out = NULL;
	if (db_read(db, ryw_session_lsn(r), sql, nparams, params, &res) != 0)
		return db_status(db, "read");
	*out = dbapi_rows(&r->t->arena, res);
	PQclear(res);
	return SHOAL_OK;
}

enum shoal_status
shoal_tx_begin(struct shoal_req *r, struct shoal_tx **out)
{
	struct db	*db = thread_db();
	struct shoal_tx	*tx;

	*out = NULL;
	if (db == NULL || db_begin(db, DB_PRIMARY) != 0)
		return db_status(db, "begin");
	tx = arena_calloc(&r->t->arena, 1, sizeof *tx);
	tx->r = r;
	tx->db = db;
	tx->open = 1;
	*out = tx;
	return SHOAL_OK;
}

enum shoal_status
shoal_tx_query(struct shoal_tx *tx, const char *sql, int nparams,
    const char *const *params, struct shoal_rows **out)
{
	PGresult	*res;

	if (out != NULL)
		*out = NULL;
	if (tx == NULL || !tx->open || !db_in_tx(tx->db)) {
		log_event("error", "shoal_tx_query outside a transaction");
		return SHOAL_INTERNAL;
	}
	if (db_query(tx->db, sql, nparams, params, &res) != 0)
		return db_status(tx->db, "query");
	if (out != NULL)
		*out = dbapi_rows(&tx->r->t->arena, res);
	PQclear(res);
	return SHOAL_OK;
}

/*
 * After the commit, the primary's WAL position is past the commit's
 * record: the session keeps it, and its reads wait for a replica that
 * has replayed that far. When the position cannot be read the write
 * stands and the session reads from the primary from then on:
 * UINT32_MAX << 32 is a position no replica reaches.
 */
enum shoal_status
shoal_tx_commit(struct shoal_tx *tx)
{
	uint64_t		 lsn;
	enum shoal_status	 st;

	if (tx == NULL || !tx->open || !db_in_tx(tx->db)) {
		log_event("error", "shoal_tx_commit outside a transaction");
		return SHOAL_INTERNAL;
	}
	tx->open = 0;
	if (db_commit(tx->db) != 0)
		return db_status(tx->db, "commit");
	if (db_primary_lsn(tx->db, &lsn) != 0) {
		(void)db_status(tx->db, "commit position");
		lsn = (uint64_t)UINT32_MAX << 32;
	}
	if ((st = session_note_write(tx->r, lsn)) != SHOAL_OK)
		log_event("warn", "a committed write's position was not kept "
		    "in the session");
	return SHOAL_OK;
}

void
shoal_tx_rollback(struct shoal_tx *tx)
{
	if (tx == NULL || !tx->open)
		return;
	tx->open = 0;
	if (db_in_tx(tx->db))
		db_rollback(tx->db);
}
