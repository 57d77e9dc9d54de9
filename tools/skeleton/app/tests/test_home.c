/*
 * test_home.c - home.c: which names are kept, the change that keeps one,
 * and the front page's route and template.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wiring.h"

static void
names_that_are_kept(void **state)
{
	(void)state;
	assert_null(name_check("Ann"));
	assert_null(name_check("Zoë"));
	assert_null(name_check("0123456789012345678901234567890123456789"
	    "012345678901234567890123"));
}

static void
names_that_are_refused(void **state)
{
	(void)state;
	assert_non_null(name_check(NULL));
	assert_non_null(name_check(""));
	assert_non_null(name_check("0123456789012345678901234567890123456789"
	    "0123456789012345678901234"));
	assert_non_null(name_check("a\tb"));
	assert_non_null(name_check("\xff\xfe"));
}

static void
a_new_name_changes_the_session(void **state)
{
	@TYPE@__SessionData	 d;
	char			 ann[] = "Ann", ann2[] = "Ann", bo[] = "Bo";

	(void)state;
	@NAME@__session_data__init(&d);
	assert_int_equal(name_set(NULL, &d, ann), SHOAL_CHANGED);
	assert_string_equal(d.name, "Ann");
	/* The same name again: nothing to write back. */
	assert_int_equal(name_set(NULL, &d, ann2), SHOAL_UNCHANGED);
	assert_int_equal(name_set(NULL, &d, bo), SHOAL_CHANGED);
	assert_string_equal(d.name, "Bo");
}

static void
the_front_page_is_routed_and_has_a_template(void **state)
{
	(void)state;
	assert_ptr_equal(route_of(SHOAL_GET, "/"), page_home);
	assert_ptr_equal(route_of(SHOAL_POST, "/name"), page_name_post);
	assert_non_null(template_of("layout"));
	assert_non_null(strstr(template_of("layout"), "{{&content}}"));
	assert_non_null(template_of("home"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_that_are_kept),
		cmocka_unit_test(names_that_are_refused),
		cmocka_unit_test(a_new_name_changes_the_session),
		cmocka_unit_test(the_front_page_is_routed_and_has_a_template),
	};

	return cmocka_run_group_tests_name("home", tests, NULL, NULL);
}
