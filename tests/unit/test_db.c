/*
 * test_db.c - what the database layer decides without a database: the
 * SHOAL_DB* settings and their checks (db.h, config.h), the backoff, the
 * status an SQLSTATE stands for, and the migrations a binary carries
 * (migrate.h): names, checksums, order, and the comparison with what a
 * database has applied.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "db.h"
#include "migrate.h"
#include "unit.h"

static int
clear_env(void **state)
{
	(void)state;
	return unit_clear_env();
}

/* config_load's error for the settings, or NULL when they load. */
static const char *
load(struct config *cfg)
{
	static char	 err[512];

	memset(err, 0, sizeof err);
	if (config_load(cfg, err, sizeof err) == 0)
		return NULL;
	assert_null(strchr(err, '\n'));
	return err;
}

static void
no_database_by_default(void **state)
{
	struct config	 cfg;

	(void)state;
	assert_null(load(&cfg));
	assert_string_equal(cfg.db, "");
	assert_int_equal(cfg.ndb_replicas, 0);
	assert_string_equal(cfg.db_password, "");
	assert_int_equal(cfg.db_timeout_ms, 2000);
	config_free(&cfg);
}

static void
uris_without_passwords_are_accepted(void **state)
{
	char	 err[256];

	(void)state;
	assert_int_equal(db_uri_check("SHOAL_DB",
	    "postgresql://shoal_app@127.0.0.1:5435/shoal", err, sizeof err), 0);
	assert_int_equal(db_uri_check("SHOAL_DB",
	    "postgres://u@[::1]:5432/db?sslmode=disable&connect_timeout=3",
	    err, sizeof err), 0);
	assert_int_equal(db_uri_check("SHOAL_DB",
	    "postgresql://u@h1:5432,h2:5433/db?target_session_attrs=read-write",
	    err, sizeof err), 0);
}

static void
bad_uris_are_refused_in_one_line(void **state)
{
	static const char *const bad[] = {
		"",
		"shoal",
		"host=127.0.0.1 dbname=shoal",	/* key=value: not a URI */
		"mysql://u@h/db",
		"postgresql://u@h/db?nosuchoption=1",
		"postgresql://u@h:notaport/db?port=x y",
		"postgresql://u@h/db\n",
		"postgresql://u@h/db?sslmode=bogus&bad%zz",
	};
	char	 err[256];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (db_uri_check("SHOAL_DB", bad[i], err, sizeof err) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err, "SHOAL_DB"));
		assert_null(strchr(err, '\n'));
	}
}

static void
a_password_in_the_uri_is_refused_and_not_repeated(void **state)
{
	char	 err[256];

	(void)state;
	assert_int_equal(db_uri_check("SHOAL_DB",
	    "postgresql://shoal_app:s3cret@127.0.0.1/shoal", err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "password"));
	assert_null(strstr(err, "s3cret"));
	assert_int_equal(db_uri_check("SHOAL_DB_ADMIN",
	    "postgresql://o@127.0.0.1/shoal?password=s3cret", err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "SHOAL_DB_ADMIN_PASSWORD_FILE"));
	assert_null(strstr(err, "s3cret"));
	/* Neither does the error for a URI libpq cannot read. */
	assert_int_equal(db_uri_check("SHOAL_DB",
	    "postgresql://u:s3cret@h/db?bogus=1", err, sizeof err), -1);
	assert_null(strstr(err, "s3cret"));
}

static void
settings_are_checked_at_load(void **state)
{
	struct config	 cfg;
	const char	*err;

	(void)state;
	setenv("SHOAL_DB", "postgresql://a:pw@h/db", 1);
	assert_non_null(err = load(&cfg));
	assert_non_null(strstr(err, "SHOAL_DB:"));
	setenv("SHOAL_DB", "postgresql://a@h/db", 1);
	setenv("SHOAL_DB_REPLICAS", "postgresql://a@r1/db,nonsense", 1);
	assert_non_null(err = load(&cfg));
	assert_non_null(strstr(err, "SHOAL_DB_REPLICAS"));
	setenv("SHOAL_DB_REPLICAS", "postgresql://a@r1/db,postgresql://a@r2/db",
	    1);
	assert_null(load(&cfg));
	assert_int_equal(cfg.ndb_replicas, 2);
	assert_string_equal(cfg.db_replica[0], "postgresql://a@r1/db");
	assert_string_equal(cfg.db_replica[1], "postgresql://a@r2/db");
	config_free(&cfg);
	/* Replicas, or a password file, without a primary. */
	unsetenv("SHOAL_DB");
	assert_non_null(err = load(&cfg));
	assert_non_null(strstr(err, "SHOAL_DB_REPLICAS"));
	unsetenv("SHOAL_DB_REPLICAS");
	setenv("SHOAL_DB_PASSWORD_FILE", "/nonexistent", 1);
	assert_non_null(err = load(&cfg));
	assert_non_null(strstr(err, "SHOAL_DB_PASSWORD_FILE"));
	unsetenv("SHOAL_DB_PASSWORD_FILE");
	setenv("SHOAL_DB_TIMEOUT_MS", "5", 1);
	assert_non_null(err = load(&cfg));
	assert_non_null(strstr(err, "SHOAL_DB_TIMEOUT_MS"));
	unsetenv("SHOAL_DB_TIMEOUT_MS");
	setenv("SHOAL_DB_ADMIN", "postgresql://o:pw@h/db", 1);
	assert_non_null(err = load(&cfg));
	assert_non_null(strstr(err, "SHOAL_DB_ADMIN"));
	unsetenv("SHOAL_DB_ADMIN");
}

static void
too_many_replicas_are_refused(void **state)
{
	struct config	 cfg;
	char		 list[2048] = "";
	const char	*err;
	int		 i;

	(void)state;
	for (i = 0; i <= CONFIG_MAX_REPLICAS; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list),
		    "%spostgresql://a@r%d/db", i ? "," : "", i);
	setenv("SHOAL_DB", "postgresql://a@h/db", 1);
	setenv("SHOAL_DB_REPLICAS", list, 1);
	assert_non_null(err = load(&cfg));
	assert_non_null(strstr(err, "more than"));
}

static void
password_is_read_from_its_file_once(void **state)
{
	struct config	 cfg;
	char		 path[] = "/tmp/test_db_pw_XXXXXX";
	const char	*err;
	int		 fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, "pg-secret\n", 10), 10);
	close(fd);
	setenv("SHOAL_DB", "postgresql://a@h/db", 1);
	setenv("SHOAL_DB_PASSWORD_FILE", path, 1);
	assert_null(load(&cfg));
	assert_string_equal(cfg.db_password, "pg-secret");
	config_free(&cfg);
	/* Readable by others: refused, like the Redis password files. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_non_null(err = load(&cfg));
	assert_non_null(strstr(err, "SHOAL_DB_PASSWORD_FILE"));
	assert_null(strstr(err, "pg-secret"));
	unlink(path);
}

static void
backoff_doubles_up_to_its_cap(void **state)
{
	(void)state;
	assert_int_equal(db_backoff_ms(1), DB_RECONNECT_MS);
	assert_int_equal(db_backoff_ms(2), 2 * DB_RECONNECT_MS);
	assert_int_equal(db_backoff_ms(3), DB_RECONNECT_MAX_MS);
	assert_int_equal(db_backoff_ms(50), DB_RECONNECT_MAX_MS);
	assert_int_equal(db_backoff_ms(1000000), DB_RECONNECT_MAX_MS);
}

static void
sqlstates_map_to_faults(void **state)
{
	(void)state;
	assert_int_equal(db_fault_of_sqlstate("57014"), DB_FAULT_TIMEOUT);
	assert_int_equal(db_fault_of_sqlstate("40001"), DB_FAULT_CONFLICT);
	assert_int_equal(db_fault_of_sqlstate("40P01"), DB_FAULT_CONFLICT);
	assert_int_equal(db_fault_of_sqlstate("23505"), DB_FAULT_UNIQUE);
	assert_int_equal(db_fault_of_sqlstate("08P01"), DB_FAULT_UNAVAILABLE);
	assert_int_equal(db_fault_of_sqlstate("08006"), DB_FAULT_UNAVAILABLE);
	assert_int_equal(db_fault_of_sqlstate("57P01"), DB_FAULT_UNAVAILABLE);
	assert_int_equal(db_fault_of_sqlstate("57P03"), DB_FAULT_UNAVAILABLE);
	assert_int_equal(db_fault_of_sqlstate("53300"), DB_FAULT_UNAVAILABLE);
	assert_int_equal(db_fault_of_sqlstate("25006"), DB_FAULT_UNAVAILABLE);
	/* Bugs and bad grants are no reason to try again. */
	assert_int_equal(db_fault_of_sqlstate("42501"), DB_FAULT_ERROR);
	assert_int_equal(db_fault_of_sqlstate("42P01"), DB_FAULT_ERROR);
	assert_int_equal(db_fault_of_sqlstate("23503"), DB_FAULT_ERROR);
	assert_int_equal(db_fault_of_sqlstate(""), DB_FAULT_ERROR);
	assert_int_equal(db_fault_of_sqlstate(NULL), DB_FAULT_ERROR);
	assert_int_equal(db_fault_of_sqlstate("080"), DB_FAULT_ERROR);
}

static void
no_database_answers_nodb(void **state)
{
	struct config	 cfg;

	(void)state;
	assert_null(load(&cfg));
	db_init(&cfg);
	assert_null(db_thread());
	assert_int_equal(db_exec(NULL, DB_PRIMARY, "SELECT 1", 0, NULL, NULL),
	    -1);
	assert_int_equal(db_fault(NULL), DB_FAULT_NODB);
	db_init(NULL);
	config_free(&cfg);
}

static void
migration_names(void **state)
{
	static const char *const bad[] = {
		"", "1_x", "001_x", "0001", "0001_", "0001x", "0000_zero",
		"0001_Upper", "0001_dash-ed", "0001_sp ace", "00a1_x",
		"0001_x.sql",
		"0001_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char	 name[MIGRATION_NAME_MAX + 1], err[256];
	int	 n;
	size_t	 i;

	(void)state;
	assert_int_equal(migration_parse_name("0001_accounts", &n, name,
	    sizeof name, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(name, "accounts");
	assert_int_equal(migration_parse_name("9999_last_one_2", &n, name,
	    sizeof name, err, sizeof err), 0);
	assert_int_equal(n, 9999);
	assert_string_equal(name, "last_one_2");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (migration_parse_name(bad[i], &n, name, sizeof name, err,
		    sizeof err) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err, "NNNN_name"));
	}
}

static void
checksum_is_sha256_of_the_text(void **state)
{
	char	 hex[65], other[65];

	(void)state;
	migration_checksum("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	migration_checksum("abc ", 4, other);
	assert_string_not_equal(hex, other);
}

static const struct shoal_migration unordered[] = {
	{ "0003_third", "C", 1 },
	{ "0001_first", "A", 1 },
	{ "0002_second", "B", 1 },
	{ NULL, NULL, 0 },
};

static void
migrations_are_listed_in_number_order(void **state)
{
	struct migration	*list = NULL;
	size_t			 n = 0;
	char			 err[256];

	(void)state;
	assert_int_equal(migrations_add(&list, &n, "tier", unordered, err,
	    sizeof err), 0);
	assert_int_equal(migrations_add(&list, &n, "shop", NULL, err,
	    sizeof err), 0);
	assert_int_equal(migrations_add(&list, &n, "shop", unordered + 1, err,
	    sizeof err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(list[0].owner, "tier");
	assert_int_equal(list[0].number, 1);
	assert_string_equal(list[0].name, "first");
	assert_int_equal(list[2].number, 3);
	assert_string_equal(list[3].owner, "shop");
	assert_int_equal(list[3].number, 1);
	assert_int_equal(list[4].number, 2);
	assert_int_equal(strlen(list[4].checksum), 64);
	free(list);
}

static void
a_number_used_twice_or_a_bad_name_is_refused(void **state)
{
	static const struct shoal_migration twice[] = {
		{ "0001_a", "A", 1 }, { "0001_b", "B", 1 }, { NULL, NULL, 0 },
	};
	static const struct shoal_migration badname[] = {
		{ "0001_a", "A", 1 }, { "2_b", "B", 1 }, { NULL, NULL, 0 },
	};
	struct migration	*list = NULL;
	size_t			 n = 0;
	char			 err[256];

	(void)state;
	assert_int_equal(migrations_add(&list, &n, "tier", twice, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "twice"));
	free(list);
	list = NULL;
	n = 0;
	assert_int_equal(migrations_add(&list, &n, "tier", badname, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "\"2_b\""));
	free(list);
	list = NULL;
	n = 0;
	assert_int_equal(migrations_add(&list, &n, "", twice, err,
	    sizeof err), -1);
	free(list);
}

/* An applied row as the database would hand it back. */
static struct migration
row(const char *owner, int number, const char *name, const char *text)
{
	struct migration	 m;

	memset(&m, 0, sizeof m);
	snprintf(m.owner, sizeof m.owner, "%s", owner);
	m.number = number;
	snprintf(m.name, sizeof m.name, "%s", name);
	migration_checksum(text, strlen(text), m.checksum);
	return m;
}

static void
applied_and_known_are_compared(void **state)
{
	struct migration	*known = NULL, applied[4];
	size_t			 n = 0;
	char			 err[256];

	(void)state;
	assert_int_equal(migrations_add(&known, &n, "tier", unordered, err,
	    sizeof err), 0);
	applied[0] = row("tier", 1, "first", "A");
	applied[1] = row("tier", 2, "second", "B");
	applied[2] = row("tier", 3, "third", "C");
	assert_int_equal(migrations_compare(known, n, applied, 3, err,
	    sizeof err), 0);
	/* One the binary knows is missing. */
	assert_int_equal(migrations_compare(known, n, applied, 2, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "tier 0003_third is not applied"));
	/* One the binary does not know is applied. */
	applied[3] = row("shop", 7, "future", "F");
	assert_int_equal(migrations_compare(known, n, applied, 4, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "shop 0007_future is applied"));
	assert_non_null(strstr(err, "does not know"));
	/* One was edited after it was applied. */
	applied[1] = row("tier", 2, "second", "B changed");
	assert_int_equal(migrations_compare(known, n, applied, 3, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "0002_second differs"));
	/* Renamed: the same number under another name. */
	applied[1] = row("tier", 2, "other", "B");
	assert_int_equal(migrations_compare(known, n, applied, 3, err,
	    sizeof err), -1);
	assert_null(strchr(err, '\n'));
	/* The same number of another owner is another migration. */
	applied[1] = row("shop", 2, "second", "B");
	assert_int_equal(migrations_compare(known, n, applied, 3, err,
	    sizeof err), -1);
	free(known);
}

static void
the_tier_carries_its_migrations(void **state)
{
	struct migration	*list = NULL;
	size_t			 n = 0;
	char			 err[256];

	(void)state;
	assert_int_equal(migrations_add(&list, &n, "tier", tier_migrations,
	    err, sizeof err), 0);
	assert_true(n >= 1);
	assert_int_equal(list[0].number, 1);
	assert_string_equal(list[0].name, "accounts");
	assert_non_null(strstr(list[0].text, "CREATE TABLE accounts"));
	free(list);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(no_database_by_default, clear_env),
		cmocka_unit_test(uris_without_passwords_are_accepted),
		cmocka_unit_test(bad_uris_are_refused_in_one_line),
		cmocka_unit_test(
		    a_password_in_the_uri_is_refused_and_not_repeated),
		cmocka_unit_test_setup(settings_are_checked_at_load, clear_env),
		cmocka_unit_test_setup(too_many_replicas_are_refused,
		    clear_env),
		cmocka_unit_test_setup(password_is_read_from_its_file_once,
		    clear_env),
		cmocka_unit_test(backoff_doubles_up_to_its_cap),
		cmocka_unit_test(sqlstates_map_to_faults),
		cmocka_unit_test_setup(no_database_answers_nodb, clear_env),
		cmocka_unit_test(migration_names),
		cmocka_unit_test(checksum_is_sha256_of_the_text),
		cmocka_unit_test(migrations_are_listed_in_number_order),
		cmocka_unit_test(a_number_used_twice_or_a_bad_name_is_refused),
		cmocka_unit_test(applied_and_known_are_compared),
		cmocka_unit_test(the_tier_carries_its_migrations),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
