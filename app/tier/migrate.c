/*
 * migrate.c - the migrations a binary carries, shoal db migrate and
 * status, and the worker's start-up check of the schema (see migrate.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "config.h"
#include "db.h"
#include "migrate.h"
#include "oom.h"

/* Held for the whole of a migrate run: two at once would race. */
#define MIGRATE_LOCK_ID		"7237128016153175"
#define MIGRATE_CONNECT_TIMEOUT	"10"	/* seconds */
#define START_RETRY_MS		250

static const char create_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " owner text NOT NULL,"
    " number integer NOT NULL CHECK (number > 0),"
    " name text NOT NULL,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (owner, number))";
static const char select_applied[] =
    "SELECT owner, number, name, checksum FROM schema_migrations "
    "ORDER BY owner, number";

int
migration_parse_name(const char *file, int *number, char *name,
    size_t namesz, char *err, size_t errsz)
{
	size_t	 i, n;

	for (i = 0; i < 4; i++)
		if (file[i] < '0' || file[i] > '9')
			goto bad;
	if (file[4] != '_')
		goto bad;
	n = strlen(file + 5);
	if (n == 0 || n > MIGRATION_NAME_MAX || n >= namesz ||
	    strspn(file + 5, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
		goto bad;
	*number = (file[0] - '0') * 1000 + (file[1] - '0') * 100 +
	    (file[2] - '0') * 10 + (file[3] - '0');
	if (*number == 0)
		goto bad;
	memcpy(name, file + 5, n + 1);
	return 0;
bad:
	snprintf(err, errsz, "migration \"%.*s\": expected NNNN_name.sql "
	    "(0001 to 9999, a name of a-z 0-9 _ up to %d bytes)",
	    (int)strcspn(file, "\r\n\t"), file, MIGRATION_NAME_MAX);
	return -1;
}

void
migration_checksum(const char *text, size_t len, char out[65])
{
	unsigned char	 h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)text, len);
	sodium_bin2hex(out, 65, h, sizeof h);
}

static int
by_number(const void *a, const void *b)
{
	const struct migration	*x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

int
migrations_add(struct migration **list, size_t *n, const char *owner,
    const struct shoal_migration *table, char *err, size_t errsz)
{
	const struct shoal_migration	*t;
	struct migration		*m;
	size_t				 start = *n, count = 0, i;

	if (strlen(owner) == 0 || strlen(owner) > MIGRATION_OWNER_MAX) {
		snprintf(err, errsz, "migrations: owner name of 1 to %d bytes "
		    "expected", MIGRATION_OWNER_MAX);
		return -1;
	}
	for (t = table; t != NULL && t->name != NULL; t++)
		count++;
	if (count == 0)
		return 0;
	if (count > MIGRATIONS_MAX || *n > MIGRATIONS_MAX - count) {
		snprintf(err, errsz, "migrations: more than %d",
		    MIGRATIONS_MAX);
		return -1;
	}
	*list = xrealloc(*list, (*n + count) * sizeof **list);
	for (t = table; t->name != NULL; t++) {
		m = &(*list)[(*n)++];
		memset(m, 0, sizeof *m);
		snprintf(m->owner, sizeof m->owner, "%s", owner);
		if (migration_parse_name(t->name, &m->number, m->name,
		    sizeof m->name, err, errsz) != 0)
			return -1;
		migration_checksum(t->text, t->len, m->checksum);
		m->text = t->text;
		m->len = t->len;
	}
	qsort(*list + start, count, sizeof **list, by_number);
	for (i = start + 1; i < *n; i++)
		if ((*list)[i].number == (*list)[i - 1].number) {
			snprintf(err, errsz, "migrations of %s: %04d is used "
			    "twice (%s and %s)", owner, (*list)[i].number,
			    (*list)[i - 1].name, (*list)[i].name);
			return -1;
		}
	return 0;
}

static const struct migration *
find(const struct migration *list, size_t n, const struct migration *m)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (list[i].number == m->number &&
		    strcmp(list[i].owner, m->owner) == 0)
			return &list[i];
	return NULL;
}

int
migrations_compare(const struct migration *known, size_t nknown,
    const struct migration *applied, size_t napplied, char *err,
    size_t errsz)
{
	const struct migration	*a;
	size_t			 i;

	for (i = 0; i < napplied; i++)
		if (find(known, nknown, &applied[i]) == NULL) {
			snprintf(err, errsz, "database schema: migration %s "
			    "%04d_%s is applied, and this binary does not know "
			    "it (built from an older tree?)", applied[i].owner,
			    applied[i].number, applied[i].name);
			return -1;
		}
	for (i = 0; i < nknown; i++) {
		if ((a = find(applied, napplied, &known[i])) == NULL) {
			snprintf(err, errsz, "database schema: migration %s "
			    "%04d_%s is not applied (run shoal db migrate)",
			    known[i].owner, known[i].number, known[i].name);
			return -1;
		}
		if (strcmp(a->checksum, known[i].checksum) != 0 ||
		    strcmp(a->name, known[i].name) != 0) {
			snprintf(err, errsz, "database schema: migration %s "
			    "%04d_%s differs from the one applied (%04d_%s, "
			    "checksum %.12s)", known[i].owner, known[i].number,
			    known[i].name, a->number, a->name, a->checksum);
			return -1;
		}
	}
	return 0;
}

/* Every migration this binary carries: the tier's, then the app's. */
static int
known_list(const struct shoal_app *a, struct migration **list, size_t *n,
    char *err, size_t errsz)
{
	const char	*app = a->name;

	*list = NULL;
	*n = 0;
	if (strcmp(app, "tier") == 0) {
		snprintf(err, errsz, "migrations: an app may not be named "
		    "\"tier\"");
		return -1;
	}
	if (migrations_add(list, n, "tier", tier_migrations, err,
	    errsz) != 0 ||
	    migrations_add(list, n, app, a->migrations, err,
	    errsz) != 0) {
		free(*list);
		*list = NULL;
		return -1;
	}
	return 0;
}

/* The rows of schema_migrations in res as migrations. */
static int
applied_list(const PGresult *res, struct migration **list, size_t *n,
    char *err, size_t errsz)
{
	struct migration	*m;
	int			 i, rows = PQntuples(res);

	*list = NULL;
	*n = 0;
	if (PQnfields(res) != 4 || rows > MIGRATIONS_MAX) {
		snprintf(err, errsz, "schema_migrations: unexpected shape");
		return -1;
	}
	if (rows == 0)
		return 0;
	*list = xcalloc((size_t)rows, sizeof **list);
	for (i = 0; i < rows; i++) {
		m = &(*list)[i];
		snprintf(m->owner, sizeof m->owner, "%s",
		    PQgetvalue(res, i, 0));
		m->number = atoi(PQgetvalue(res, i, 1));
		snprintf(m->name, sizeof m->name, "%s", PQgetvalue(res, i, 2));
		snprintf(m->checksum, sizeof m->checksum, "%s",
		    PQgetvalue(res, i, 3));
	}
	*n = (size_t)rows;
	return 0;
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Faults that may pass: worth another try while starting. */
static int
transient(enum db_fault f)
{
	return f == DB_FAULT_CONNECT || f == DB_FAULT_BACKOFF ||
	    f == DB_FAULT_TIMEOUT || f == DB_FAULT_CLOSED ||
	    f == DB_FAULT_UNAVAILABLE;
}

int
migrate_check(struct db *db, const struct config *cfg,
    const struct shoal_app *app, char *err, size_t errsz)
{
	struct migration	*known = NULL, *applied = NULL;
	size_t			 nknown, napplied;
	PGresult		*res = NULL;
	int64_t			 deadline = mono_ms() + cfg->db_start_wait * 1000;
	int			 rc = 2;

	if (known_list(app, &known, &nknown, err, errsz) != 0)
		return 2;
	/* The outcome is one line, written by the caller. */
	db_quiet(db, 1);
	while (db_exec(db, DB_PRIMARY, select_applied, 0, NULL, &res) != 0) {
		if (!transient(db_fault(db))) {
			if (strcmp(db_sqlstate(db), "42P01") == 0)
				snprintf(err, errsz, "database schema: no "
				    "schema_migrations table (run shoal db "
				    "migrate)");
			else
				snprintf(err, errsz, "database schema: cannot "
				    "read schema_migrations: %s", db_errstr(db));
			goto out;
		}
		if (mono_ms() >= deadline) {
			snprintf(err, errsz, "database at SHOAL_DB did not "
			    "answer within SHOAL_DB_START_WAIT (%ld s): %s",
			    cfg->db_start_wait, db_errstr(db));
			rc = 1;
			goto out;
		}
		sleep_ms(START_RETRY_MS);
	}
	if (applied_list(res, &applied, &napplied, err, errsz) != 0)
		goto out;
	if (migrations_compare(known, nknown, applied, napplied, err,
	    errsz) != 0)
		goto out;
	rc = 0;
out:
	db_quiet(db, 0);
	PQclear(res);
	free(known);
	free(applied);
	return rc;
}

/* libpq prints notices ("relation already exists, skipping") on stderr
 * unless told otherwise. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* One line from libpq's message, after "shoal: what: ". */
static void
db_error(const char *what, const char *msg)
{
	fprintf(stderr, "shoal: %s: %.*s\n", what, (int)strcspn(msg, "\r\n"),
	    msg);
}

static PGconn *
admin_connect(const struct config *cfg)
{
	const char	*kw[6], *val[6];
	PGconn		*c;
	int		 n = 0;

	if (cfg->db_admin[0] == '\0') {
		fprintf(stderr, "shoal: SHOAL_DB_ADMIN: is required for shoal "
		    "db (the migrations' role, straight to the primary)\n");
		return NULL;
	}
	kw[n] = "gssencmode";	val[n++] = "disable";
	kw[n] = "connect_timeout"; val[n++] = MIGRATE_CONNECT_TIMEOUT;
	kw[n] = "fallback_application_name"; val[n++] = "shoal-migrate";
	kw[n] = "dbname";	val[n++] = cfg->db_admin;
	if (cfg->db_admin_password[0] != '\0') {
		kw[n] = "password";
		val[n++] = cfg->db_admin_password;
	}
	kw[n] = NULL;
	val[n] = NULL;
	if ((c = PQconnectdbParams(kw, val, 1)) == NULL)
		oom();
	if (PQstatus(c) != CONNECTION_OK) {
		db_error("SHOAL_DB_ADMIN: cannot connect", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

/* Runs fixed text (no parameters); 0, or -1 with the error on stderr. */
static int
run(PGconn *c, const char *what, const char *sql)
{
	PGresult	*r = PQexec(c, sql);
	int		 st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
	    st != PGRES_EMPTY_QUERY) {
		db_error(what, PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

/* The rows of schema_migrations, or none when there is no table yet. */
static int
read_applied(PGconn *c, struct migration **list, size_t *n)
{
	PGresult	*r;
	char		 err[256];
	int		 rc;

	*list = NULL;
	*n = 0;
	r = PQexec(c, "SELECT to_regclass('schema_migrations') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		db_error("schema_migrations", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	rc = strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	if (rc != 0)
		return 0;
	r = PQexec(c, select_applied);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_error("schema_migrations", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	rc = applied_list(r, list, n, err, sizeof err);
	PQclear(r);
	if (rc != 0)
		fprintf(stderr, "shoal: %s\n", err);
	return rc;
}

/* One migration and its row, in one transaction. */
static int
apply(PGconn *c, const struct migration *m)
{
	char		 number[12], what[160];
	const char	*params[4];
	PGresult	*r;

	snprintf(what, sizeof what, "migration %s %04d_%s", m->owner,
	    m->number, m->name);
	if (run(c, what, "BEGIN") != 0)
		return -1;
	if (run(c, what, m->text) != 0)
		goto fail;
	snprintf(number, sizeof number, "%d", m->number);
	params[0] = m->owner;
	params[1] = number;
	params[2] = m->name;
	params[3] = m->checksum;
	r = PQexecParams(c, "INSERT INTO schema_migrations (owner, number, "
	    "name, checksum) VALUES ($1, $2, $3, $4)", 4, NULL, params, NULL,
	    NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		db_error(what, PQresultErrorMessage(r));
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	return run(c, what, "COMMIT");
fail:
	(void)run(c, what, "ROLLBACK");
	return -1;
}

/* Applied rows this binary does not know, or whose text changed: one line
 * each on stderr (with prefix) or out; the count. */
static size_t
report_strays(const struct migration *known, size_t nknown,
    const struct migration *applied, size_t napplied, FILE *out)
{
	const struct migration	*k;
	size_t			 i, bad = 0;

	for (i = 0; i < napplied; i++) {
		k = find(known, nknown, &applied[i]);
		if (k != NULL && strcmp(k->checksum, applied[i].checksum) == 0 &&
		    strcmp(k->name, applied[i].name) == 0)
			continue;
		fprintf(out, "%s%s %s %04d_%s%s\n", out == stderr ? "shoal: " :
		    "", k == NULL ? "unknown" : "changed", applied[i].owner,
		    applied[i].number, applied[i].name, k == NULL ?
		    ": applied, and this binary does not know it" :
		    ": its text differs from the one applied");
		bad++;
	}
	return bad;
}

int
migrate_run(const struct config *cfg, const struct shoal_app *app, FILE *out)
{
	struct migration	*known = NULL, *applied = NULL;
	size_t			 nknown, napplied = 0, i, done = 0;
	char			 err[256];
	PGconn			*c;
	int			 rc = 1;

	if (known_list(app, &known, &nknown, err, sizeof err) != 0) {
		fprintf(stderr, "shoal: %s\n", err);
		return 2;
	}
	if ((c = admin_connect(cfg)) == NULL) {
		free(known);
		return cfg->db_admin[0] == '\0' ? 2 : 1;
	}
	if (run(c, "migrate lock", "SELECT pg_advisory_lock("
	    MIGRATE_LOCK_ID ")") != 0 ||
	    run(c, "schema_migrations", create_table) != 0 ||
	    read_applied(c, &applied, &napplied) != 0)
		goto out;
	if (report_strays(known, nknown, applied, napplied, stderr) > 0)
		goto out;
	for (i = 0; i < nknown; i++) {
		if (find(applied, napplied, &known[i]) != NULL)
			continue;
		if (apply(c, &known[i]) != 0)
			goto out;
		fprintf(out, "applied %s %04d_%s\n", known[i].owner,
		    known[i].number, known[i].name);
		done++;
	}
	if (done == 0)
		fprintf(out, "nothing to apply: %zu migrations applied "
		    "already\n", napplied);
	else
		fprintf(out, "%zu migrations applied\n", done);
	rc = fflush(out) == 0 ? 0 : 1;
out:
	PQfinish(c);
	free(known);
	free(applied);
	return rc;
}

int
migrate_status(const struct config *cfg, const struct shoal_app *app,
    FILE *out)
{
	struct migration	*known = NULL, *applied = NULL;
	size_t			 nknown, napplied = 0, i, pending = 0, bad;
	char			 err[256];
	PGconn			*c;
	int			 rc = 1;

	if (known_list(app, &known, &nknown, err, sizeof err) != 0) {
		fprintf(stderr, "shoal: %s\n", err);
		return 2;
	}
	if ((c = admin_connect(cfg)) == NULL) {
		free(known);
		return cfg->db_admin[0] == '\0' ? 2 : 1;
	}
	if (read_applied(c, &applied, &napplied) != 0)
		goto out;
	for (i = 0; i < nknown; i++) {
		int	 done = find(applied, napplied, &known[i]) != NULL;

		fprintf(out, "%s %s %04d_%s\n", done ? "applied" : "pending",
		    known[i].owner, known[i].number, known[i].name);
		pending += !done;
	}
	bad = report_strays(known, nknown, applied, napplied, out);
	fprintf(out, "%zu applied, %zu pending%s\n", napplied - bad, pending,
	    bad ? ", and some this binary does not know or that changed" : "");
	rc = bad > 0 ? 1 : 0;
	if (fflush(out) != 0)
		rc = 1;
out:
	PQfinish(c);
	free(known);
	free(applied);
	return rc;
}
