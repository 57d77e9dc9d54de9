/*
 * test_net.c - net.h: address lists and the source an address is counted
 * as.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net.h"

static void
lists_name_addresses_and_blocks(void **state)
{
	(void)state;
	assert_true(net_in_list("10.0.0.0/8", "10.1.2.3"));
	assert_false(net_in_list("10.0.0.0/8", "11.0.0.1"));
	assert_true(net_in_list("192.0.2.1,2001:db8::/32", "2001:db8::5"));
	assert_true(net_in_list("::ffff:192.0.2.0/120", "192.0.2.9"));
	assert_false(net_in_list("", "10.0.0.1"));
	assert_false(net_in_list("10.0.0.0/8", "10.0.0.0/8"));
	assert_false(net_in_list("10.0.0.0/8", "redis.internal"));
}

static void
lists_are_validated(void **state)
{
	(void)state;
	assert_true(net_list_valid(""));
	assert_true(net_list_valid("10.0.0.0/8,::1,192.0.2.7/32"));
	assert_false(net_list_valid("10.0.0.0/8,"));
	assert_false(net_list_valid("10.0.0.0/33"));
	assert_false(net_list_valid("::1/129"));
	assert_false(net_list_valid("host.example"));
	assert_false(net_list_valid("10.0.0.1/"));
	assert_false(net_list_valid(" 10.0.0.1"));
}

/* One IPv6 subscriber holds a /64: it is counted as one source. */
static void
ipv6_counts_per_64(void **state)
{
	char	 a[NET_SOURCE_MAX], b[NET_SOURCE_MAX];

	(void)state;
	assert_int_equal(net_source("2001:db8:1:2:aaaa::1", a), 0);
	assert_string_equal(a, "2001:db8:1:2::/64");
	assert_int_equal(net_source("2001:db8:1:2:ffff:ffff:ffff:ffff", b), 0);
	assert_string_equal(a, b);
	assert_int_equal(net_source("2001:db8:1:3::1", b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(net_source("::1", a), 0);
	assert_string_equal(a, "::/64");
}

static void
ipv4_counts_per_address(void **state)
{
	char	 a[NET_SOURCE_MAX];

	(void)state;
	assert_int_equal(net_source("192.0.2.1", a), 0);
	assert_string_equal(a, "192.0.2.1");
	/* Mapped: the IPv4 client it is. */
	assert_int_equal(net_source("::ffff:192.0.2.1", a), 0);
	assert_string_equal(a, "192.0.2.1");
	assert_int_equal(net_source("unknown", a), -1);
	assert_int_equal(net_source("192.0.2.1/24", a), -1);
	assert_int_equal(net_source("", a), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lists_name_addresses_and_blocks),
		cmocka_unit_test(lists_are_validated),
		cmocka_unit_test(ipv6_counts_per_64),
		cmocka_unit_test(ipv4_counts_per_address),
	};

	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
