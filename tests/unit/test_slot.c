/*
 * test_slot.c - slot.h against the cluster specification: its CRC16 test
 * vector, the slots its documentation gives for keys with and without hash
 * tags, the tag rules' edge cases, and shoal's own keys (a script's keys
 * share a slot).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"
#include "slot.h"

static unsigned
slot(const char *key)
{
	return slot_of_key(key, strlen(key));
}

static void
crc16_is_xmodem(void **state)
{
	(void)state;
	/* The specification's check value. */
	assert_int_equal(slot_crc16("123456789", 9), 0x31C3);
	assert_int_equal(slot_crc16("", 0), 0);
}

static void
documented_slots(void **state)
{
	(void)state;
	/* CLUSTER KEYSLOT's documentation. */
	assert_int_equal(slot("somekey"), 11058);
	assert_int_equal(slot("foo{hash_tag}"), 2515);
	assert_int_equal(slot("bar{hash_tag}"), 2515);
	assert_int_equal(slot("123456789"), 0x31C3 & 16383);
}

static void
hash_tag_rules(void **state)
{
	(void)state;
	/* The tag alone is hashed. */
	assert_int_equal(slot("{user1000}.following"), slot("user1000"));
	assert_int_equal(slot("{user1000}.followers"), slot("user1000"));
	/* The first '{' and the first '}' after it. */
	assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
	assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
	/* An empty tag, or none closed: the whole key. */
	assert_int_equal(slot("foo{}{bar}"), slot_crc16("foo{}{bar}", 10) & 16383);
	assert_int_equal(slot("foo{bar"), slot_crc16("foo{bar", 7) & 16383);
	assert_int_equal(slot("foo}bar{"), slot_crc16("foo}bar{", 8) & 16383);
	assert_int_equal(slot("{}"), slot_crc16("{}", 2) & 16383);
	/* The length counts, not a NUL: bytes after it are part of the key. */
	assert_int_equal(slot_of_key("a{b}\0c", 6), slot("b"));
	assert_int_equal(slot_of_key("ab{c}", 2), slot_crc16("ab", 2) & 16383);
	assert_true(slot("") < 16384);
}

static void
every_slot_is_in_range(void **state)
{
	char		 key[16];
	unsigned	 seen[16384 / 32] = { 0 }, n = 0, s;
	int		 i;

	(void)state;
	for (i = 0; i < 200000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		s = slot(key);
		assert_true(s < 16384);
		if (!(seen[s / 32] & (1u << (s % 32))))
			n++;
		seen[s / 32] |= 1u << (s % 32);
	}
	/* CRC16 spreads keys over every slot. */
	assert_int_equal(n, 16384);
}

static void
a_users_keys_share_a_slot(void **state)
{
	struct redis_key	 a, b;
	const char		*user = "alice";

	(void)state;
	key_index(&a, "shoal:", user);
	key_index_meta(&b, "shoal:", user);
	assert_int_equal(slot(a.s), slot(b.s));
	key_user_generation(&b, "shoal:", user);
	assert_int_equal(slot(a.s), slot(b.s));
	key_throttle(&b, "shoal:", user, "192.0.2.7");
	assert_int_equal(slot(a.s), slot(b.s));
	key_throttle_user(&b, "other:", user);
	assert_int_equal(slot(a.s), slot(b.s));
	key_session(&a, "shoal:", "AAAAAAAAAAAAAAAAAAAAAA");
	assert_int_equal(slot(a.s), slot("AAAAAAAAAAAAAAAAAAAAAA"));
	key_source_signin(&a, "shoal:", "192.0.2.7");
	key_source_signup(&b, "shoal:", "192.0.2.7");
	assert_int_equal(slot(a.s), slot(b.s));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc16_is_xmodem),
		cmocka_unit_test(documented_slots),
		cmocka_unit_test(hash_tag_rules),
		cmocka_unit_test(every_slot_is_in_range),
		cmocka_unit_test(a_users_keys_share_a_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
