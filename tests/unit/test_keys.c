/*
 * test_keys.c - keys.h: every Redis key name, its hash tag, and the bounds
 * that make building one unable to fail.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys.h"

static const char hash[] = "AAAAAAAAAAAAAAAAAAAAAA";	/* SID_HASH_LEN */

/* The part between the one pair of braces. */
static void
assert_tag(const char *key, const char *tag)
{
	const char	*open = strchr(key, '{'), *close = strchr(key, '}');

	assert_non_null(open);
	assert_non_null(close);
	assert_ptr_equal(open, strrchr(key, '{'));
	assert_ptr_equal(close, strrchr(key, '}'));
	assert_int_equal((size_t)(close - open - 1), strlen(tag));
	assert_memory_equal(open + 1, tag, strlen(tag));
}

static void
every_key_has_its_layout(void **state)
{
	struct redis_key	 k;

	(void)state;
	key_session(&k, "shoal:", hash);
	assert_string_equal(k.s, "shoal:s:{AAAAAAAAAAAAAAAAAAAAAA}");
	key_user(&k, "shoal:", "alice");
	assert_string_equal(k.s, "shoal:u:{alice}");
	key_index(&k, "shoal:", "alice");
	assert_string_equal(k.s, "shoal:u:{alice}:sessions");
	key_index_meta(&k, "shoal:", "alice");
	assert_string_equal(k.s, "shoal:u:{alice}:meta");
	key_throttle(&k, "shoal:", "alice", "192.0.2.1");
	assert_string_equal(k.s, "shoal:t:{alice}:192.0.2.1");
	key_user(&k, "", "bob");
	assert_string_equal(k.s, "u:{bob}");
	key_user_generation(&k, "shoal:", "alice");
	assert_string_equal(k.s, "shoal:u:{alice}:generation");
	key_throttle_user(&k, "shoal:", "alice");
	assert_string_equal(k.s, "shoal:t:{alice}");
	key_source_signin(&k, "shoal:", "2001:db8::/64");
	assert_string_equal(k.s, "shoal:a:{2001:db8::/64}:signin");
	key_source_signup(&k, "shoal:", "192.0.2.1");
	assert_string_equal(k.s, "shoal:a:{192.0.2.1}:signup");
}

/* A user's account, index, meta and throttle counts share one slot. */
static void
a_users_keys_share_one_hash_tag(void **state)
{
	struct redis_key	 k;

	(void)state;
	key_user(&k, "p:", "carol");
	assert_tag(k.s, "carol");
	key_index(&k, "p:", "carol");
	assert_tag(k.s, "carol");
	key_index_meta(&k, "p:", "carol");
	assert_tag(k.s, "carol");
	key_throttle(&k, "p:", "carol", "2001:db8::1");
	assert_tag(k.s, "carol");
	key_throttle_user(&k, "p:", "carol");
	assert_tag(k.s, "carol");
	key_user_generation(&k, "p:", "carol");
	assert_tag(k.s, "carol");
	key_source_signin(&k, "p:", "192.0.2.1");
	assert_tag(k.s, "192.0.2.1");
	key_session(&k, "p:", hash);
	assert_tag(k.s, hash);
}

static void
longest_parts_fit(void **state)
{
	struct redis_key	 k;
	char			 prefix[KEY_PREFIX_MAX + 1];
	char			 user[USER_NAME_MAX + 1];
	char			 addr[KEY_ADDR_MAX + 1];

	(void)state;
	memset(prefix, 'p', KEY_PREFIX_MAX);
	prefix[KEY_PREFIX_MAX] = '\0';
	memset(user, 'u', USER_NAME_MAX);
	user[USER_NAME_MAX] = '\0';
	memset(addr, 'a', KEY_ADDR_MAX);
	addr[KEY_ADDR_MAX] = '\0';
	key_throttle(&k, prefix, user, addr);
	assert_int_equal(strlen(k.s), KEY_MAX - 1);
	key_index(&k, prefix, user);
	assert_int_equal(strlen(k.s), KEY_PREFIX_MAX + 3 + USER_NAME_MAX +
	    strlen("}:sessions"));
	key_session(&k, prefix, hash);
	assert_int_equal(strlen(k.s), KEY_PREFIX_MAX + 3 + SID_HASH_LEN + 1);
}

/* An address is cut, not refused: it is the client's, not a caller bug. */
static void
long_address_is_cut(void **state)
{
	struct redis_key	 k;
	char			 addr[KEY_ADDR_MAX + 40];

	(void)state;
	memset(addr, '1', sizeof addr - 1);
	addr[sizeof addr - 1] = '\0';
	key_throttle(&k, "", "alice", addr);
	assert_int_equal(strlen(k.s), strlen("t:{alice}:") + KEY_ADDR_MAX);
}

/* Runs fn in a child; 1 when the child died of SIGABRT. */
static int
aborts(void (*fn)(void))
{
	pid_t	 pid = fork();
	int	 status;

	assert_true(pid >= 0);
	if (pid == 0) {
		/* The key part's log line is expected; keep the output clean. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void
user_over_bound(void)
{
	struct redis_key	 k;

	key_user(&k, "p:", "abcdefghijklmnopqrstuvwxyz0123456");	/* 33 */
}

static void
prefix_over_bound(void)
{
	struct redis_key	 k;
	char			 prefix[KEY_PREFIX_MAX + 2];

	memset(prefix, 'p', KEY_PREFIX_MAX + 1);
	prefix[KEY_PREFIX_MAX + 1] = '\0';
	key_session(&k, prefix, hash);
}

static void
hash_over_bound(void)
{
	struct redis_key	 k;

	key_session(&k, "p:", "AAAAAAAAAAAAAAAAAAAAAAA");	/* 23 */
}

static void
user_at_bound(void)
{
	struct redis_key	 k;

	key_user(&k, "p:", "abcdefghijklmnopqrstuvwxyz012345");	/* 32 */
}

/* A part over its bound is a caller that skipped validation: abort rather
 * than build a wrong key. */
static void
part_over_its_bound_aborts(void **state)
{
	(void)state;
	assert_true(aborts(user_over_bound));
	assert_true(aborts(prefix_over_bound));
	assert_true(aborts(hash_over_bound));
	assert_false(aborts(user_at_bound));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_key_has_its_layout),
		cmocka_unit_test(a_users_keys_share_one_hash_tag),
		cmocka_unit_test(longest_parts_fit),
		cmocka_unit_test(long_address_is_cut),
		cmocka_unit_test(part_over_its_bound_aborts),
	};

	return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
