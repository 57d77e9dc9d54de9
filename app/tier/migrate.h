/*
 * migrate.h - schema migrations: numbered SQL files kept with the code
 * that owns the tables (the tier's in app/tier/db/, an app's in its db/),
 * embedded into the binary at build time (tools/embed), applied by
 * `shoal db migrate` and checked by every worker at start.
 *
 * A file is NNNN_name.sql: four digits, then a name of a-z 0-9 _. Numbers
 * of one owner are unique; files apply in number order, the tier's before
 * the app's (an app's tables may refer to the tier's). Each applies in one
 * transaction together with its row in schema_migrations (owner, number,
 * name, SHA-256 of the text, applied_at), so a migration is applied whole
 * or not at all. A file never holds BEGIN or COMMIT, and once applied it is
 * never edited: the checksum would no longer match, which migrate and the
 * start check refuse. A change is a new file.
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stddef.h>
#include <stdio.h>

#include "shoal.h"

struct config;
struct db;

#define MIGRATION_NAME_MAX	64
#define MIGRATION_OWNER_MAX	64
#define MIGRATIONS_MAX		1000

/* The tier's (build/gen/tier_db.c), ended by a NULL name. An app's are
 * its struct shoal_app .migrations. */
extern const struct shoal_migration tier_migrations[];

/* A migration as migrate and the start check see it. */
struct migration {
	char		 owner[MIGRATION_OWNER_MAX + 1];
	int		 number;
	char		 name[MIGRATION_NAME_MAX + 1];
	char		 checksum[65];		/* SHA-256, hex */
	const char	*text;			/* NULL for an applied row */
	size_t		 len;
};

/*
 * Splits "0001_accounts" into 1 and "accounts". 0, or -1 with one line in
 * err.
 */
int	migration_parse_name(const char *file, int *number, char *name,
	    size_t namesz, char *err, size_t errsz)
	    __attribute__((warn_unused_result));
/* SHA-256 of text, as 64 hex digits and a NUL. */
void	migration_checksum(const char *text, size_t len, char out[65]);

/*
 * Appends owner's migrations of table (may be NULL: none) to *list (*n of
 * them, grown with realloc; free() it), in number order. Refuses a bad
 * name, a number used twice, and more than MIGRATIONS_MAX. 0, or -1 with
 * one line in err.
 */
int	migrations_add(struct migration **list, size_t *n, const char *owner,
	    const struct shoal_migration *table, char *err, size_t errsz)
	    __attribute__((warn_unused_result));

/*
 * Compares the migrations a binary knows with those applied (both sorted
 * by owner then number, as migrations_add and the query give them): 0 when
 * they are the same set with the same checksums, else -1 and one line in
 * err naming the first difference: a known migration not applied, one
 * applied that the binary does not know, or one whose text changed.
 */
int	migrations_compare(const struct migration *known, size_t nknown,
	    const struct migration *applied, size_t napplied, char *err,
	    size_t errsz) __attribute__((warn_unused_result));

/*
 * The worker's start-up check (SHOAL_DB set): reads schema_migrations
 * through db, waiting up to SHOAL_DB_START_WAIT seconds for a database that
 * does not answer. Returns 0, 1 (the database never answered) or 2 (the
 * schema is not the one this binary knows); err holds one line.
 */
int	migrate_check(struct db *, const struct config *,
	    const struct shoal_app *, char *err, size_t errsz) __attribute__((warn_unused_result));

/*
 * shoal db migrate / shoal db status, connected as SHOAL_DB_ADMIN straight
 * to the primary. What was done goes to out, one line each; errors to
 * stderr as one line. Returns the exit status: 0, 1 (a database error, a
 * changed or unknown migration) or 2 (bad configuration).
 */
int	migrate_run(const struct config *, const struct shoal_app *, FILE *out);
int	migrate_status(const struct config *, const struct shoal_app *,
	    FILE *out);

#endif
