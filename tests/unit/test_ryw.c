/*
 * test_ryw.c - ryw.h's WAL positions and dbapi.h's encoding of result
 * rows, which the cache keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "dbapi.h"
#include "ryw.h"

static void
lsn_parses_and_formats(void **state)
{
	uint64_t	 lsn;
	char		 buf[24];

	(void)state;
	assert_int_equal(ryw_lsn_parse("0/0", &lsn), 0);
	assert_true(lsn == 0);
	assert_int_equal(ryw_lsn_parse("16/B374D848", &lsn), 0);
	assert_true(lsn == ((uint64_t)0x16 << 32 | 0xB374D848u));
	ryw_lsn_format(lsn, buf, sizeof buf);
	assert_string_equal(buf, "16/B374D848");
	assert_int_equal(ryw_lsn_parse("ffffffff/ffffffff", &lsn), 0);
	assert_true(lsn == UINT64_MAX);
	/* Ordered as numbers, not as text: 9/0 < A/0 < 10/0. */
	{
		uint64_t	 a, b, c;

		assert_int_equal(ryw_lsn_parse("9/0", &a), 0);
		assert_int_equal(ryw_lsn_parse("A/0", &b), 0);
		assert_int_equal(ryw_lsn_parse("10/0", &c), 0);
		assert_true(a < b && b < c);
	}
}

static void
bad_lsns_are_refused(void **state)
{
	const char	*bad[] = { NULL, "", "/", "0/", "/0", "0", "0/0/0",
	    "g/0", "0/ 1", "-1/0", "123456789/0", "0/123456789", "0x1/0" };
	uint64_t	 lsn;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(ryw_lsn_parse(bad[i], &lsn), -1);
}

static struct shoal_rows *
sample(struct arena *a)
{
	static const char *cols[] = { "id", "name", "note" };
	static const char *v[] = { "1", "Product 1", NULL, "2", "", "x'y" };
	struct shoal_rows *rows = arena_calloc(a, 1, sizeof *rows);

	rows->ncols = 3;
	rows->nrows = 2;
	rows->cols = cols;
	rows->v = v;
	return rows;
}

static void
rows_round_trip(void **state)
{
	struct arena		 a;
	struct shoal_rows	*in, *out;
	unsigned char		*bytes;
	size_t			 len;

	(void)state;
	arena_init(&a);
	in = sample(&a);
	bytes = dbapi_rows_encode(&a, in, &len);
	out = dbapi_rows_decode(&a, bytes, len);
	assert_non_null(out);
	assert_int_equal(out->nrows, 2);
	assert_int_equal(out->ncols, 3);
	assert_string_equal(out->cols[1], "name");
	assert_string_equal(shoal_row_str(out, 0, 1), "Product 1");
	assert_null(shoal_row_str(out, 0, 2));
	assert_string_equal(shoal_row_str(out, 1, 1), "");
	assert_string_equal(shoal_row_str(out, 1, 2), "x'y");
	assert_int_equal(shoal_row_int(out, 1, 0), 2);
	assert_int_equal(shoal_row_int(out, 0, 1), 0);	/* not a number */
	assert_null(shoal_row_str(out, 2, 0));		/* outside */
	assert_null(shoal_row_str(out, 0, 3));
	assert_null(shoal_row_str(out, -1, 0));
	arena_free(&a);
}

static void
damaged_rows_do_not_decode(void **state)
{
	struct arena		 a;
	unsigned char		*bytes, *copy;
	size_t			 len, n;

	(void)state;
	arena_init(&a);
	bytes = dbapi_rows_encode(&a, sample(&a), &len);
	/* Every truncation, and one byte more. */
	for (n = 0; n < len; n++)
		assert_null(dbapi_rows_decode(&a, bytes, n));
	copy = arena_alloc(&a, len + 1);
	memcpy(copy, bytes, len);
	copy[len] = 0;
	assert_null(dbapi_rows_decode(&a, copy, len + 1));
	/* A lying count, the wrong magic. */
	memcpy(copy, bytes, len);
	copy[9] = 0xff;
	assert_null(dbapi_rows_decode(&a, copy, len));
	memcpy(copy, bytes, len);
	copy[1] = '2';
	assert_null(dbapi_rows_decode(&a, copy, len));
	arena_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lsn_parses_and_formats),
		cmocka_unit_test(bad_lsns_are_refused),
		cmocka_unit_test(rows_round_trip),
		cmocka_unit_test(damaged_rows_do_not_decode),
	};

	return cmocka_run_group_tests_name("ryw", tests, NULL, NULL);
}
