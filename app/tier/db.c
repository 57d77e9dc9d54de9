/*
 * db.c - the threads' database connections and the statement executor
 * (see db.h).
 *
 * The connections hang off a thread-local pointer rather than the thread's
 * context: a thread that never touches the database never connects, and
 * the start-up check in the main thread uses the same code as requests. A
 * thread-specific key's destructor closes them when a thread ends.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "oom.h"
#include "ryw.h"

struct db_conn {
	const char	*uri;		/* NULL: not configured */
	const char	*role;		/* "primary" or "replica", in logs */
	PGconn		*c;
	int64_t		 retry_at_ms;	/* no reconnect before this */
	int		 failures;	/* connects failed in a row */
};

struct db {
	const struct config	*cfg;
	struct db_conn		 primary;
	struct db_conn		 replica;
	struct db_conn		*tx;		/* the open transaction's */
	uint64_t		 replayed;	/* the replica had replayed this
						   much WAL, last we asked */
	int64_t			 replayed_at_ms; /* when we asked */
	int			 quiet;		/* log nothing (start-up) */
	enum db_fault		 fault;
	char			 sqlstate[6];
	char			 errstr[DB_ERRSTR_MAX];
};

static const struct config	*db_cfg;
static atomic_uint		 next_replica;
static _Thread_local struct db	*this_db;
static pthread_key_t		 db_key;
static pthread_once_t		 db_key_once = PTHREAD_ONCE_INIT;

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
db_uri_check(const char *var, const char *uri, char *err, size_t errsz)
{
	PQconninfoOption	*opts, *o;
	char			*msg = NULL;
	size_t			 i;
	int			 rc = 0;

	for (i = 0; uri[i] != '\0'; i++)
		if ((unsigned char)uri[i] <= 0x20 || uri[i] == 0x7f) {
			snprintf(err, errsz, "%s: holds white space or control "
			    "characters", var);
			return -1;
		}
	if (strncmp(uri, "postgresql://", 13) != 0 &&
	    strncmp(uri, "postgres://", 11) != 0) {
		snprintf(err, errsz, "%s: expected a URI starting with "
		    "postgresql://", var);
		return -1;
	}
	if ((opts = PQconninfoParse(uri, &msg)) == NULL) {
		/* Not the message: libpq may quote the URI, password and all. */
		snprintf(err, errsz, "%s: not a URI libpq can read", var);
		PQfreemem(msg);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "password") == 0) {
			snprintf(err, errsz, "%s: holds a password; give it "
			    "in a file (%s_PASSWORD_FILE) instead", var,
			    strcmp(var, "SHOAL_DB_ADMIN") == 0 ?
			    "SHOAL_DB_ADMIN" : "SHOAL_DB");
			rc = -1;
		}
	}
	PQconninfoFree(opts);
	return rc;
}

int64_t
db_backoff_ms(int failures)
{
	int64_t	 wait = DB_RECONNECT_MS;
	int	 i;

	for (i = 1; i < failures && wait < DB_RECONNECT_MAX_MS; i++)
		wait *= 2;
	return wait > DB_RECONNECT_MAX_MS ? DB_RECONNECT_MAX_MS : wait;
}

enum db_fault
db_fault_of_sqlstate(const char *s)
{
	if (s == NULL || strlen(s) != 5)
		return DB_FAULT_ERROR;
	if (strcmp(s, "57014") == 0)		/* statement_timeout */
		return DB_FAULT_TIMEOUT;
	if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0)
		return DB_FAULT_CONFLICT;
	if (strcmp(s, "23505") == 0)
		return DB_FAULT_UNIQUE;
	/* Connection exceptions (PgBouncer's own errors among them), too
	 * many connections or out of resources, shutdown or start-up of the
	 * server, and a write sent to a node that is (now) a standby. */
	if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 ||
	    strncmp(s, "57P", 3) == 0 || strcmp(s, "25006") == 0 ||
	    strncmp(s, "58", 2) == 0)
		return DB_FAULT_UNAVAILABLE;
	return DB_FAULT_ERROR;
}

static void
close_conn(struct db_conn *k)
{
	if (k->c != NULL) {
		PQfinish(k->c);
		k->c = NULL;
	}
}

/* At thread exit (the key's destructor), or from db_thread_done. */
static void
free_db(void *arg)
{
	struct db	*db = arg;

	close_conn(&db->primary);
	close_conn(&db->replica);
	free(db);
	this_db = NULL;
}

static void
make_key(void)
{
	if (pthread_key_create(&db_key, free_db) != 0) {
		log_event("error", "cannot create the database thread key");
		abort();
	}
}

void
db_init(const struct config *cfg)
{
	db_cfg = cfg;
	pthread_once(&db_key_once, make_key);
}

struct db *
db_thread(void)
{
	struct db	*db;
	unsigned	 n;

	if (this_db != NULL)
		return this_db;
	if (db_cfg == NULL || db_cfg->db[0] == '\0')
		return NULL;
	db = xcalloc(1, sizeof *db);
	db->cfg = db_cfg;
	db->primary.uri = db_cfg->db;
	db->primary.role = "primary";
	db->replica.role = "replica";
	/* Threads spread over the replicas, one each. */
	if (db_cfg->ndb_replicas > 0) {
		n = atomic_fetch_add(&next_replica, 1);
		db->replica.uri = db_cfg->db_replica[n %
		    (unsigned)db_cfg->ndb_replicas];
	}
	this_db = db;
	if (pthread_setspecific(db_key, db) != 0)
		oom();
	return db;
}

void
db_thread_done(void)
{
	struct db	*db = this_db;

	if (db == NULL)
		return;
	(void)pthread_setspecific(db_key, NULL);
	free_db(db);
}

/* The first line of libpq's message, for one log line. */
static void
set_fault(struct db *db, enum db_fault f, const char *why)
{
	size_t	 n;

	db->fault = f;
	snprintf(db->errstr, sizeof db->errstr, "%s", why ? why : "");
	n = strcspn(db->errstr, "\r\n");
	db->errstr[n] = '\0';
}

static void
backoff(struct db_conn *k)
{
	k->failures++;
	k->retry_at_ms = now_ms() + db_backoff_ms(k->failures);
}

/* Closes the connection; the next transaction reconnects, after a
 * backoff. */
static void
drop(struct db *db, struct db_conn *k, const char *why)
{
	if (k->c != NULL) {
		if (!db->quiet)
			log_event("warn", "database %s connection dropped: %s",
			    k->role, why);
		close_conn(k);
	}
	if (db->tx == k)
		db->tx = NULL;
	backoff(k);
}

/* Drops a connection that broke under a working server: the next connect
 * is tried at once. */
static void
drop_now(struct db *db, struct db_conn *k, const char *why)
{
	drop(db, k, why);
	k->failures = 0;
	k->retry_at_ms = 0;
}

/* Notices would go to stderr, outside the log's format: nothing the
 * worker sends asks for one. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Waits until c's socket is ready for events, up to deadline. */
static int
wait_socket(PGconn *c, short events, int64_t deadline)
{
	struct pollfd	 pfd;
	int64_t		 left;
	int		 n;

	pfd.fd = PQsocket(c);
	pfd.events = events;
	if (pfd.fd < 0)
		return -1;
	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return 1;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/*
 * Connects k if it is not connected: libpq's non-blocking connect, polled
 * up to SHOAL_DB_TIMEOUT_MS. A failure leaves no connection and backs off.
 */
static int
connect_db(struct db *db, struct db_conn *k)
{
	const char	*kw[6], *val[6];
	char		 why[DB_ERRSTR_MAX];
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int64_t		 deadline;
	int		 n = 0, w;

	if (k->c != NULL)
		return 0;
	if (now_ms() < k->retry_at_ms) {
		set_fault(db, DB_FAULT_BACKOFF, "waiting to reconnect");
		return -1;
	}
	/* No Kerberos: nothing here uses it, and asking for it reads
	 * credential caches. The URI may override the rest. */
	kw[n] = "gssencmode";	val[n++] = "disable";
	kw[n] = "fallback_application_name"; val[n++] = "shoal";
	kw[n] = "dbname";	val[n++] = k->uri;
	if (db->cfg->db_password[0] != '\0') {
		kw[n] = "password";
		val[n++] = db->cfg->db_password;
	}
	kw[n] = NULL;
	val[n] = NULL;
	deadline = now_ms() + db->cfg->db_timeout_ms;
	if ((k->c = PQconnectStartParams(kw, val, 1)) == NULL)
		oom();
	PQsetNoticeProcessor(k->c, quiet, NULL);
	while (PQstatus(k->c) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	    st != PGRES_POLLING_FAILED) {
		w = wait_socket(k->c, st == PGRES_POLLING_READING ? POLLIN :
		    POLLOUT, deadline);
		if (w != 0) {
			snprintf(why, sizeof why, "connect: %s", w > 0 ?
			    "timed out" : "socket error");
			set_fault(db, w > 0 ? DB_FAULT_TIMEOUT :
			    DB_FAULT_CONNECT, why);
			goto fail;
		}
		st = PQconnectPoll(k->c);
	}
	if (PQstatus(k->c) != CONNECTION_OK) {
		snprintf(why, sizeof why, "connect: %s", PQerrorMessage(k->c));
		set_fault(db, DB_FAULT_CONNECT, why);
		goto fail;
	}
	if (PQsetnonblocking(k->c, 1) != 0) {
		set_fault(db, DB_FAULT_CONNECT, "connect: cannot set "
		    "non-blocking");
		goto fail;
	}
	k->failures = 0;
	/* Perhaps another server now: what the last one replayed says
	 * nothing about it. */
	if (k == &db->replica)
		db->replayed = 0;
	return 0;
fail:
	if (!db->quiet)
		log_event("warn", "database %s %s", k->role, db->errstr);
	close_conn(k);
	backoff(k);
	return -1;
}

/*
 * 1 when the server (or PgBouncer) has closed this idle connection: it
 * sends nothing unasked but a notice or a parameter change, so anything to
 * read is consumed and the connection's state then says.
 */
static int
closed_while_idle(PGconn *c)
{
	struct pollfd	 pfd;

	pfd.fd = PQsocket(c);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		return 1;
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	return !PQconsumeInput(c) || PQstatus(c) == CONNECTION_BAD;
}

/*
 * Sends one statement (simple: the simple protocol, for our own fixed
 * text of several statements; else parameterised) and reads every result
 * up to the deadline. The last result that is not an error goes to *out
 * (when out is not NULL); the first error sets the fault. A timeout or a
 * broken connection drops the connection (it is out of step); an error
 * from the server leaves it usable.
 */
static int
send_and_read(struct db *db, struct db_conn *k, int simple, const char *sql,
    int nparams, const char *const *params, PGresult **out)
{
	PGresult	*r, *keep = NULL;
	int64_t		 deadline = now_ms() + db->cfg->db_timeout_ms +
	    DB_REPLY_SLACK_MS;
	const char	*state, *msg;
	int		 ok, f, failed = 0;

	db->sqlstate[0] = '\0';
	ok = simple ? PQsendQuery(k->c, sql) : PQsendQueryParams(k->c, sql,
	    nparams, NULL, params, NULL, NULL, 0);
	if (!ok) {
		set_fault(db, DB_FAULT_CLOSED, PQerrorMessage(k->c));
		goto broken;
	}
	while ((f = PQflush(k->c)) == 1) {
		if (wait_socket(k->c, POLLIN | POLLOUT, deadline) != 0)
			goto timeout;
		if (!PQconsumeInput(k->c)) {
			set_fault(db, DB_FAULT_CLOSED, PQerrorMessage(k->c));
			goto broken;
		}
	}
	if (f == -1) {
		set_fault(db, DB_FAULT_CLOSED, PQerrorMessage(k->c));
		goto broken;
	}
	for (;;) {
		while (PQisBusy(k->c)) {
			if (wait_socket(k->c, POLLIN, deadline) != 0)
				goto timeout;
			if (!PQconsumeInput(k->c)) {
				set_fault(db, DB_FAULT_CLOSED,
				    PQerrorMessage(k->c));
				goto broken;
			}
		}
		if ((r = PQgetResult(k->c)) == NULL)
			break;
		switch (PQresultStatus(r)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
		case PGRES_EMPTY_QUERY:
			PQclear(keep);
			keep = r;
			break;
		default:
			if (!failed) {
				state = PQresultErrorField(r,
				    PG_DIAG_SQLSTATE);
				msg = PQresultErrorField(r,
				    PG_DIAG_MESSAGE_PRIMARY);
				snprintf(db->sqlstate, sizeof db->sqlstate,
				    "%s", state ? state : "");
				set_fault(db, db_fault_of_sqlstate(state),
				    msg ? msg : PQresultErrorMessage(r));
				failed = 1;
			}
			PQclear(r);
		}
	}
	if (PQstatus(k->c) == CONNECTION_BAD) {
		PQclear(keep);
		if (!failed)
			set_fault(db, DB_FAULT_CLOSED, PQerrorMessage(k->c));
		goto broken;
	}
	if (failed) {
		PQclear(keep);
		/* The server is going away, or PgBouncer lost it: this
		 * connection is no use until it is made again. */
		if (db->fault == DB_FAULT_UNAVAILABLE)
			drop_now(db, k, db->errstr);
		return -1;
	}
	if (out != NULL)
		*out = keep;
	else
		PQclear(keep);
	return 0;
timeout:
	PQclear(keep);
	set_fault(db, DB_FAULT_TIMEOUT, "no answer in time");
	drop(db, k, "no answer in time");
	return -1;
broken:
	PQclear(keep);
	drop(db, k, db->errstr);
	return -1;
}

/* Faults after which a read may go to the primary instead. */
static int
roundtrip(struct db *db, struct db_conn *k, int simple, const char *sql,
    int nparams, const char *const *params, PGresult **out)
{
	int64_t	 start = metrics_clock();
	int	 rc = send_and_read(db, k, simple, sql, nparams, params, out);

	metrics_db(k == &db->replica, rc, start);
	return rc;
}

static int
replica_unusable(enum db_fault f)
{
	return f == DB_FAULT_CONNECT || f == DB_FAULT_BACKOFF ||
	    f == DB_FAULT_TIMEOUT || f == DB_FAULT_CLOSED ||
	    f == DB_FAULT_UNAVAILABLE;
}

static int
begin_on(struct db *db, struct db_conn *k, int read_only)
{
	char	 sql[96];
	int	 reused;

	snprintf(sql, sizeof sql, "BEGIN%s; SET LOCAL statement_timeout = "
	    "%ld", read_only ? " READ ONLY" : "", db->cfg->db_timeout_ms);
	if (k->c != NULL && closed_while_idle(k->c))
		drop_now(db, k, "closed while idle");
	reused = k->c != NULL;
	if (connect_db(db, k) != 0) {
		metrics_count(METRIC_DB_ERRORS);	/* no statement could go */
		return -1;
	}
	if (roundtrip(db, k, 1, sql, 0, NULL, NULL) != 0) {
		/* Nothing was applied: a connection that broke while idle
		 * is made again and the BEGIN sent once more. */
		if (!(reused && db->fault == DB_FAULT_CLOSED))
			return -1;
		k->failures = 0;
		k->retry_at_ms = 0;
		if (connect_db(db, k) != 0 ||
		    roundtrip(db, k, 1, sql, 0, NULL, NULL) != 0)
			return -1;
	}
	db->tx = k;
	return 0;
}

int
db_begin(struct db *db, enum db_target target)
{
	db->fault = DB_FAULT_NONE;
	db->errstr[0] = '\0';
	db->sqlstate[0] = '\0';
	if (db->tx != NULL) {
		log_event("error", "db_begin inside a transaction");
		abort();
	}
	if (target == DB_REPLICA && db->replica.uri != NULL) {
		if (begin_on(db, &db->replica, 1) == 0)
			return 0;
		if (!replica_unusable(db->fault))
			return -1;
	}
	return begin_on(db, &db->primary, target == DB_REPLICA);
}

int
db_query(struct db *db, const char *sql, int nparams,
    const char *const *params, PGresult **out)
{
	if (out != NULL)
		*out = NULL;
	if (db->tx == NULL) {
		log_event("error", "db_query outside a transaction");
		abort();
	}
	return roundtrip(db, db->tx, 0, sql, nparams, params, out);
}

int
db_commit(struct db *db)
{
	struct db_conn	*k = db->tx;

	if (k == NULL) {
		log_event("error", "db_commit outside a transaction");
		abort();
	}
	/* A COMMIT the server refused has rolled back; one without an
	 * answer is in doubt, and roundtrip() dropped its connection. */
	db->tx = NULL;
	return roundtrip(db, k, 1, "COMMIT", 0, NULL, NULL);
}

void
db_rollback(struct db *db)
{
	struct db_conn	*k = db->tx;
	enum db_fault	 f = db->fault;
	char		 why[DB_ERRSTR_MAX], state[6];

	if (k == NULL)
		return;
	db->tx = NULL;
	if (k->c == NULL)
		return;
	/* The reason the caller is rolling back stays the reason. */
	memcpy(why, db->errstr, sizeof why);
	memcpy(state, db->sqlstate, sizeof state);
	if (roundtrip(db, k, 1, "ROLLBACK", 0, NULL, NULL) != 0 &&
	    k->c != NULL)
		drop(db, k, "rollback failed");
	db->fault = f;
	memcpy(db->errstr, why, sizeof why);
	memcpy(db->sqlstate, state, sizeof state);
}

/* *on_replica: the transaction began on the replica (db_begin itself
 * falls back to the primary when the replica cannot begin one). */
static int
exec_on(struct db *db, enum db_target target, const char *sql, int nparams,
    const char *const *params, PGresult **out, int *on_replica)
{
	PGresult	*r = NULL;

	*on_replica = 0;
	if (db_begin(db, target) != 0)
		return -1;
	*on_replica = db->tx == &db->replica;
	if (db_query(db, sql, nparams, params, &r) != 0) {
		db_rollback(db);
		return -1;
	}
	if (db_commit(db) != 0) {
		PQclear(r);
		return -1;
	}
	if (out != NULL)
		*out = r;
	else
		PQclear(r);
	return 0;
}

int
db_exec(struct db *db, enum db_target target, const char *sql, int nparams,
    const char *const *params, PGresult **out)
{
	int	 on_replica;

	if (out != NULL)
		*out = NULL;
	if (db == NULL)
		return -1;
	if (exec_on(db, target, sql, nparams, params, out, &on_replica) == 0)
		return 0;
	/* A read the replica stopped answering mid-way: the primary can. */
	if (on_replica && replica_unusable(db->fault))
		return exec_on(db, DB_PRIMARY, sql, nparams, params, out,
		    &on_replica);
	return -1;
}

/*
 * 1 when the open transaction's replica has replayed the WAL up to lsn. The
 * thread remembers the position it was last told for DB_REPLAY_TRUST_MS
 * (replay only moves forward; the bound covers a replica swapped behind
 * PgBouncer without this connection noticing), so a session whose write
 * is older costs nothing; otherwise it asks, inside the transaction: the statements after it read at least
 * that much (READ COMMITTED takes a snapshot per statement). A node that
 * is not in recovery (promoted) has everything it wrote. -1 on a failure.
 */
static int
replica_has(struct db *db, uint64_t lsn)
{
	PGresult	*res = NULL;
	uint64_t	 at;
	int		 ok;

	if (db->replayed >= lsn &&
	    now_ms() - db->replayed_at_ms < DB_REPLAY_TRUST_MS)
		return 1;
	if (db_query(db, "SELECT (CASE WHEN pg_is_in_recovery() THEN "
	    "pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text",
	    0, NULL, &res) != 0)
		return -1;
	ok = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
	    ryw_lsn_parse(PQgetvalue(res, 0, 0), &at) == 0;
	PQclear(res);
	if (!ok)
		return 0;
	db->replayed = at;
	db->replayed_at_ms = now_ms();
	return at >= lsn;
}

static int
read_on(struct db *db, int primary, uint64_t lsn, const char *sql,
    int nparams, const char *const *params, PGresult **out, int *on_replica)
{
	PGresult	*res = NULL;
	int		 has;

	*on_replica = 0;
	if (db_begin(db, primary ? DB_PRIMARY : DB_REPLICA) != 0)
		return -1;
	*on_replica = db->tx == &db->replica;
	if (*on_replica && lsn != 0 && (has = replica_has(db, lsn)) != 1) {
		db_rollback(db);
		if (has < 0)
			return -1;
		/* Behind this session's write: the primary has it. */
		*on_replica = 0;
		db->fault = DB_FAULT_NONE;
		if (begin_on(db, &db->primary, 1) != 0)
			return -1;
	}
	if (db_query(db, sql, nparams, params, &res) != 0) {
		db_rollback(db);
		return -1;
	}
	if (db_commit(db) != 0) {
		PQclear(res);
		return -1;
	}
	*out = res;
	return 0;
}

int
db_read(struct db *db, uint64_t lsn, const char *sql, int nparams,
    const char *const *params, PGresult **out)
{
	int	 on_replica;

	*out = NULL;
	if (db == NULL)
		return -1;
	if (read_on(db, 0, lsn, sql, nparams, params, out, &on_replica) == 0)
		return 0;
	if (on_replica && replica_unusable(db->fault))
		return read_on(db, 1, 0, sql, nparams, params, out,
		    &on_replica);
	return -1;
}

int
db_in_tx(const struct db *db)
{
	return db != NULL && db->tx != NULL;
}

int
db_primary_lsn(struct db *db, uint64_t *lsn)
{
	PGresult	*res = NULL;
	int		 ok;

	if (db_exec(db, DB_PRIMARY, "SELECT pg_current_wal_lsn()::text", 0,
	    NULL, &res) != 0)
		return -1;
	ok = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
	    ryw_lsn_parse(PQgetvalue(res, 0, 0), lsn) == 0;
	PQclear(res);
	if (!ok) {
		set_fault(db, DB_FAULT_ERROR, "pg_current_wal_lsn: no position");
		return -1;
	}
	return 0;
}

void
db_quiet(struct db *db, int on)
{
	if (db != NULL)
		db->quiet = on;
}

enum db_fault
db_fault(const struct db *db)
{
	return db == NULL ? DB_FAULT_NODB : db->fault;
}

const char *
db_errstr(const struct db *db)
{
	return db == NULL ? "no database (SHOAL_DB is not set)" : db->errstr;
}

const char *
db_sqlstate(const struct db *db)
{
	return db == NULL ? "" : db->sqlstate;
}

static const char *
fault_name(enum db_fault f)
{
	switch (f) {
	case DB_FAULT_NONE:		return "none";
	case DB_FAULT_CONNECT:		return "cannot connect";
	case DB_FAULT_BACKOFF:		return "waiting to reconnect";
	case DB_FAULT_TIMEOUT:		return "timeout";
	case DB_FAULT_CLOSED:		return "connection closed";
	case DB_FAULT_UNAVAILABLE:	return "unavailable";
	case DB_FAULT_CONFLICT:		return "conflict";
	case DB_FAULT_UNIQUE:		return "unique violation";
	case DB_FAULT_ERROR:		return "error";
	case DB_FAULT_NODB:		return "no database";
	}
	return "unknown";
}

enum shoal_status
db_status(struct db *db, const char *op)
{
	enum db_fault	 f = db_fault(db);

	switch (f) {
	case DB_FAULT_CONFLICT:
		return SHOAL_CONFLICT;
	case DB_FAULT_UNIQUE:
		return SHOAL_TAKEN;
	case DB_FAULT_BACKOFF:
		return SHOAL_UNAVAILABLE;
	case DB_FAULT_ERROR:
	case DB_FAULT_NODB:
	case DB_FAULT_NONE:
		log_event("error", "database %s failed: %s: %s%s%s", op,
		    fault_name(f), db_errstr(db), db_sqlstate(db)[0] ?
		    " SQLSTATE " : "", db_sqlstate(db));
		return SHOAL_INTERNAL;
	default:
		log_event("warn", "database %s failed: %s: %s", op,
		    fault_name(f), db_errstr(db));
		return SHOAL_UNAVAILABLE;
	}
}
