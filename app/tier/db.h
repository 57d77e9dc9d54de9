/*
 * db.h - shoal's one way to talk to PostgreSQL (libpq): each worker thread
 * has a connection to the primary and one to a replica (SHOAL_DB,
 * SHOAL_DB_REPLICAS, normally both through PgBouncer), opened on first use,
 * and one executor for statements.
 *
 * What it guarantees:
 *
 *  - Parameterised statements only (PQsendQueryParams, values as text):
 *    nothing is ever built from input, and no named prepared statement or
 *    session state is left behind, which PgBouncer's transaction pooling
 *    would hand to another client.
 *  - Every statement runs in a transaction that starts with SET LOCAL
 *    statement_timeout = SHOAL_DB_TIMEOUT_MS, so the setting lasts exactly
 *    as long as the transaction, whichever server PgBouncer picks.
 *  - Every wait is bounded: connects and replies are polled with a deadline
 *    (SHOAL_DB_TIMEOUT_MS, a little more for a reply so that the server's
 *    own timeout answers first). A database that does not answer costs a
 *    request that much once; then the connection backs off like Redis's
 *    (DB_RECONNECT_MS doubling to DB_RECONNECT_MAX_MS) and requests fail at
 *    once until the next try.
 *  - A connection found closed when a transaction starts (the server or
 *    PgBouncer restarted while it sat idle) is replaced and the BEGIN sent
 *    again: nothing was applied yet.
 *  - Reads meant for the replica go to the primary when the replica does
 *    not answer (none configured, down, backing off).
 *
 * A failure keeps its reason in the thread's struct db (db_fault,
 * db_errstr, db_sqlstate); db_status() maps it to a shoal_status and logs
 * it, once.
 */
#ifndef DB_H
#define DB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "shoal.h"

struct config;

#define DB_RECONNECT_MS		125	/* first wait after a failed connect */
#define DB_RECONNECT_MAX_MS	500	/* longest */
#define DB_REPLY_SLACK_MS	250	/* past statement_timeout, client side */
#define DB_ERRSTR_MAX		200
#define DB_REPLAY_TRUST_MS	1000	/* a replica's replay position, kept */

enum db_target {
	DB_PRIMARY,
	DB_REPLICA,		/* a read; the primary when no replica answers */
};

enum db_fault {
	DB_FAULT_NONE = 0,
	DB_FAULT_CONNECT,	/* connect or authentication failed */
	DB_FAULT_BACKOFF,	/* waiting to reconnect (already logged) */
	DB_FAULT_TIMEOUT,	/* no answer in time, or statement_timeout */
	DB_FAULT_CLOSED,	/* the connection broke */
	DB_FAULT_UNAVAILABLE,	/* the server said "not now" (08, 53, 57P0x,
				   read-only) */
	DB_FAULT_CONFLICT,	/* serialization failure or deadlock: retry */
	DB_FAULT_UNIQUE,	/* a unique constraint said no (23505) */
	DB_FAULT_ERROR,		/* any other error: a bug or a bad grant */
	DB_FAULT_NODB,		/* SHOAL_DB is not set */
};

struct db;

/*
 * Checks a URI setting at start: a postgresql:// or postgres:// URI libpq
 * can parse, without a password (that goes in the password file). 0, or
 * -1 with one line naming var in err.
 */
int	db_uri_check(const char *var, const char *uri, char *err, size_t errsz)
	    __attribute__((warn_unused_result));

/* Wait before connect number `failures` + 1 (failures >= 1), in ms. */
int64_t	db_backoff_ms(int failures);

/* The fault a result's SQLSTATE stands for (NULL or "": DB_FAULT_ERROR). */
enum db_fault db_fault_of_sqlstate(const char *);

/* Once, before any thread uses the database: cfg must outlive them. */
void	 db_init(const struct config *);
/* The calling thread's connections, made on first call; NULL when SHOAL_DB
 * is unset. */
struct db *db_thread(void);
/* Closes the calling thread's connections (the main thread after its
 * start-up check; threads before they end). */
void	 db_thread_done(void);

/*
 * One statement in a transaction of its own, on target. Returns 0 with the
 * result in *out when out is not NULL (the caller PQclear()s it), or -1
 * with the reason in db. A read on DB_REPLICA that fails because the
 * replica does not answer is run again on the primary.
 */
int	db_exec(struct db *, enum db_target, const char *sql, int nparams,
	    const char *const *params, PGresult **out)
	    __attribute__((warn_unused_result));

/*
 * Several statements in one transaction: db_begin, any number of db_query,
 * then db_commit (or db_rollback after a failure or to give up). A
 * transaction on DB_REPLICA is READ ONLY.
 */
int	db_begin(struct db *, enum db_target)
	    __attribute__((warn_unused_result));
int	db_query(struct db *, const char *sql, int nparams,
	    const char *const *params, PGresult **out)
	    __attribute__((warn_unused_result));
int	db_commit(struct db *) __attribute__((warn_unused_result));
void	db_rollback(struct db *);

/*
 * A read of one statement for a session that must see its own writes: on
 * the replica when it has replayed the WAL up to lsn (0: any replica
 * will do), else on the primary (ryw.h, docs/data.md). As db_exec
 * otherwise.
 */
int	db_read(struct db *, uint64_t lsn, const char *sql, int nparams,
	    const char *const *params, PGresult **out)
	    __attribute__((warn_unused_result));
/* 1 while a transaction is open. */
int	db_in_tx(const struct db *);
/* The primary's WAL position now: after a commit, past its record. */
int	db_primary_lsn(struct db *, uint64_t *lsn)
	    __attribute__((warn_unused_result));

/* on: log nothing, for a caller that reports the outcome itself (the
 * start-up check's one line). */
void	db_quiet(struct db *, int on);

enum db_fault db_fault(const struct db *);
const char *db_errstr(const struct db *);
/* The SQLSTATE of the last error the server sent, or "". */
const char *db_sqlstate(const struct db *);
/*
 * The status a caller answers with after a failure: SHOAL_UNAVAILABLE when
 * the database is down, busy or too slow (503 with Retry-After),
 * SHOAL_CONFLICT for a retryable conflict, SHOAL_TAKEN for a unique
 * violation, SHOAL_INTERNAL for anything else. Logs op and the reason as
 * one line, except while backing off.
 */
enum shoal_status db_status(struct db *, const char *op);

#endif
