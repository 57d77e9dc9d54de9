/*
 * test_@PAGE@.c - the page GET /@PAGE@: its route and its template.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wiring.h"

static void
the_page_is_routed(void **state)
{
	(void)state;
	assert_ptr_equal(route_of(SHOAL_GET, "/@PAGE@"), page_@PAGE@);
}

static void
the_page_has_a_template_with_a_heading(void **state)
{
	const char	*t = template_of("@PAGE@");

	(void)state;
	assert_non_null(t);
	assert_non_null(strstr(t, "<h1>"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_page_is_routed),
		cmocka_unit_test(the_page_has_a_template_with_a_heading),
	};

	return cmocka_run_group_tests_name("@PAGE@", tests, NULL, NULL);
}
