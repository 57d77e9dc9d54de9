/*
 * test_arena.c - arena.h: the per-request bump allocator, and buf.h's
 * buffers that grow in one.
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
#include <sodium.h>

#include "arena.h"
#include "buf.h"
#include "record.h"

#define BIG	(16 * 1024)	/* arena.c's chunk size */

static int
aligned16(const void *p)
{
	return ((uintptr_t)p & 15) == 0;
}

/* Many allocations of mixed sizes: aligned, and none overlaps another. */
static void
many_allocations_are_aligned_and_disjoint(void **state)
{
	enum { N = 20000 };
	struct arena	 a;
	unsigned char	**p = calloc(N, sizeof *p);
	size_t		*n = calloc(N, sizeof *n);
	size_t		 i, k;

	(void)state;
	assert_non_null(p);
	assert_non_null(n);
	arena_init(&a);
	for (i = 0; i < N; i++) {
		n[i] = 1 + (i * 7919) % 300;
		p[i] = arena_alloc(&a, n[i]);
		assert_non_null(p[i]);
		if (!aligned16(p[i]))
			fail_msg("allocation %zu of %zu bytes at %p", i, n[i],
			    (void *)p[i]);
		memset(p[i], (int)(i & 0xff), n[i]);
	}
	/* Every byte still holds what its own allocation wrote. */
	for (i = 0; i < N; i++)
		for (k = 0; k < n[i]; k++)
			if (p[i][k] != (unsigned char)(i & 0xff))
				fail_msg("allocation %zu overwritten at %zu",
				    i, k);
	arena_free(&a);
	free(p);
	free(n);
}

static void
zero_size_allocations_are_distinct(void **state)
{
	struct arena	 a;
	void		*x, *y;

	(void)state;
	arena_init(&a);
	x = arena_alloc(&a, 0);
	y = arena_alloc(&a, 0);
	assert_non_null(x);
	assert_non_null(y);
	assert_ptr_not_equal(x, y);
	arena_free(&a);
}

static void
allocation_larger_than_a_chunk(void **state)
{
	struct arena	 a;
	unsigned char	*small1, *big, *small2, *huge;

	(void)state;
	arena_init(&a);
	small1 = arena_alloc(&a, 100);
	memset(small1, 1, 100);
	big = arena_alloc(&a, BIG + 1);
	assert_true(aligned16(big));
	memset(big, 2, BIG + 1);
	huge = arena_alloc(&a, 10 * BIG);
	assert_true(aligned16(huge));
	memset(huge, 3, 10 * BIG);
	small2 = arena_alloc(&a, 100);
	memset(small2, 4, 100);
	assert_int_equal(small1[99], 1);
	assert_int_equal(big[0], 2);
	assert_int_equal(big[BIG], 2);
	assert_int_equal(huge[10 * BIG - 1], 3);
	/* Exactly a chunk. */
	memset(arena_alloc(&a, BIG), 5, BIG);
	/* After a reset the big chunks are gone, small ones reused. */
	arena_reset(&a);
	big = arena_alloc(&a, 3 * BIG);
	memset(big, 6, 3 * BIG);
	arena_free(&a);
}

static void
reset_reuses_memory(void **state)
{
	struct arena	 a;
	void		*first, *again;
	int		 round;

	(void)state;
	arena_init(&a);
	first = arena_alloc(&a, 64);
	arena_reset(&a);
	again = arena_alloc(&a, 64);
	assert_ptr_equal(first, again);
	/* Steady traffic keeps using the same chunks. */
	for (round = 0; round < 1000; round++) {
		int	 i;

		arena_reset(&a);
		for (i = 0; i < 100; i++)
			memset(arena_alloc(&a, 500), round & 0xff, 500);
	}
	arena_reset(&a);
	again = arena_alloc(&a, 64);
	assert_non_null(again);
	arena_free(&a);
	/* The arena is usable again after arena_free. */
	arena_init(&a);
	assert_non_null(arena_alloc(&a, 10));
	arena_free(&a);
}

static void
calloc_zeroes_reused_memory(void **state)
{
	struct arena	 a;
	unsigned char	*p;
	size_t		 i;

	(void)state;
	arena_init(&a);
	memset(arena_alloc(&a, 4000), 0xee, 4000);
	arena_reset(&a);
	p = arena_calloc(&a, 1000, 4);
	for (i = 0; i < 4000; i++)
		assert_int_equal(p[i], 0);
	arena_free(&a);
}

static void
string_helpers(void **state)
{
	struct arena	 a;
	char		*s;

	(void)state;
	arena_init(&a);
	assert_string_equal(arena_strdup(&a, "hello"), "hello");
	assert_string_equal(arena_strdup(&a, ""), "");
	assert_string_equal(arena_strndup(&a, "hello", 3), "hel");
	s = arena_memdup(&a, "a\0b", 3);
	assert_memory_equal(s, "a\0b\0", 4);
	arena_free(&a);
}

static void
printf_formats_into_the_arena(void **state)
{
	struct arena	 a;
	char		*s, *big;
	size_t		 i;

	(void)state;
	arena_init(&a);
	s = arena_printf(&a, "%s-%d-%05.1f-%c", "abc", 42, 3.14159, 'z');
	assert_string_equal(s, "abc-42-003.1-z");
	assert_string_equal(arena_printf(&a, "%s", ""), "");
	/* Longer than a chunk. */
	big = malloc(3 * BIG);
	assert_non_null(big);
	memset(big, 'q', 3 * BIG - 1);
	big[3 * BIG - 1] = '\0';
	s = arena_printf(&a, "<%s>", big);
	assert_int_equal(strlen(s), 3 * BIG + 1);
	assert_int_equal(s[0], '<');
	assert_int_equal(s[3 * BIG], '>');
	for (i = 1; i < 3 * BIG; i++)
		if (s[i] != 'q')
			fail_msg("byte %zu is '%c'", i, s[i]);
	free(big);
	arena_free(&a);
}

/* protobuf-c unpacks through a.pb and everything lands in the arena. */
static void
protobuf_allocator_unpacks(void **state)
{
	struct arena	 a;
	Shoal__Session	 s = SHOAL__SESSION__INIT, *d;
	unsigned char	 app[] = "widget data";
	unsigned char	 buf[256];
	size_t		 len;
	int		 round;

	(void)state;
	s.schema = 1;
	s.version = 3;
	s.user = (char *)"bob";
	s.app.data = app;
	s.app.len = sizeof app - 1;
	len = shoal__session__pack(&s, buf);
	assert_true(len > 0 && len < sizeof buf);

	arena_init(&a);
	for (round = 0; round < 3; round++) {
		d = shoal__session__unpack(&a.pb, len, buf);
		assert_non_null(d);
		assert_int_equal(d->version, 3);
		assert_string_equal(d->user, "bob");
		assert_int_equal(d->app.len, sizeof app - 1);
		assert_memory_equal(d->app.data, app, sizeof app - 1);
		/* Freeing through the allocator is a no-op, not a crash. */
		shoal__session__free_unpacked(d, &a.pb);
		arena_reset(&a);
	}
	/* A failed unpack frees its partial work through pb too. */
	buf[len - 1] ^= 0xff;
	(void)shoal__session__unpack(&a.pb, len - 2, buf);
	arena_free(&a);
}

/* Overflowing sizes end the process (the OOM policy), never wrap. */
static void
overflowing_calloc_aborts(void **state)
{
	pid_t	 pid;
	int	 status;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct arena	 a;

		/* Keep the expected "out of memory" line out of the output. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		dup2(fileno(stderr), STDERR_FILENO);
		arena_init(&a);
		(void)arena_calloc(&a, SIZE_MAX / 8, 16);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/*
 * A buffer on an arena keeps its bytes as it grows past several chunks,
 * and buf_free leaves the memory to the arena (a free() of arena memory
 * would be caught by ASan or valgrind, which run these tests).
 */
static void
buffer_grows_in_the_arena(void **state)
{
	struct arena	 a;
	struct buf	 b;
	size_t		 i;

	(void)state;
	arena_init(&a);
	buf_init_arena(&b, &a);
	for (i = 0; i < 3 * BIG; i++)
		buf_putc(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 3 * BIG);
	for (i = 0; i < 3 * BIG; i++)
		if (b.data[i] != (char)('a' + i % 26))
			fail_msg("byte %zu lost while growing", i);
	assert_int_equal(strlen(buf_cstr(&b)), 3 * BIG);
	buf_free(&b);
	assert_null(b.data);
	assert_ptr_equal(b.arena, &a);
	buf_puts(&b, "again");
	assert_string_equal(buf_cstr(&b), "again");
	arena_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(many_allocations_are_aligned_and_disjoint),
		cmocka_unit_test(zero_size_allocations_are_distinct),
		cmocka_unit_test(allocation_larger_than_a_chunk),
		cmocka_unit_test(reset_reuses_memory),
		cmocka_unit_test(calloc_zeroes_reused_memory),
		cmocka_unit_test(string_helpers),
		cmocka_unit_test(printf_formats_into_the_arena),
		cmocka_unit_test(protobuf_allocator_unpacks),
		cmocka_unit_test(overflowing_calloc_aborts),
		cmocka_unit_test(buffer_grows_in_the_arena),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
