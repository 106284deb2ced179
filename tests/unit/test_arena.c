/*
 * test_arena.c - the per-request arena (arena.h): allocations are usable,
 * disjoint and aligned for any type; the byte cap turns runaway growth
 * into NULL (never into more memory than the cap); sizes near SIZE_MAX
 * fail instead of wrapping; arena_fini() empties the arena for reuse.
 */
#include "core/arena.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define MIB ((size_t)1 << 20)

static void test_arena_alloc_basic(void **state)
{
	arena_t a;
	unsigned char *p[64];
	(void)state;

	arena_init(&a, MIB);
	for (size_t i = 0; i < 64; i++) {
		p[i] = arena_alloc(&a, i + 1);
		assert_non_null(p[i]);
		memset(p[i], (int)i, i + 1);
	}
	/* disjoint: each block still holds its own pattern */
	for (size_t i = 0; i < 64; i++)
		for (size_t j = 0; j <= i; j++)
			assert_int_equal(p[i][j], (unsigned char)i);
	assert_true(a.used <= a.cap);
	arena_fini(&a);
}

/* "aligned for any type" */
static void test_arena_alignment(void **state)
{
	arena_t a;
	(void)state;

	arena_init(&a, 4 * MIB);
	for (size_t size = 0; size < 300; size++) {
		void *p = arena_alloc(&a, size);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
	}
	/* also for the big ones that get a block of their own */
	for (size_t size = 8190; size < 8200; size++) {
		void *p = arena_alloc(&a, size * 3);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
	}
	arena_fini(&a);
}

/* size 0 still gives a distinct, valid pointer (like malloc(1)). */
static void test_arena_zero_size(void **state)
{
	arena_t a;
	void *p, *q;
	(void)state;

	arena_init(&a, MIB);
	p = arena_alloc(&a, 0);
	q = arena_alloc(&a, 0);
	assert_non_null(p);
	assert_non_null(q);
	assert_ptr_not_equal(p, q);
	arena_fini(&a);
}

/* The cap is a hard limit: allocation fails, memory never exceeds it. */
static void test_arena_cap(void **state)
{
	arena_t a;
	size_t got = 0;
	void *p;
	(void)state;

	arena_init(&a, 64 * 1024);
	while ((p = arena_alloc(&a, 1000)) != NULL) {
		memset(p, 0xAB, 1000);
		got += 1000;
		assert_true(a.used <= a.cap);
		assert_true(got <= 64 * 1024);
	}
	assert_true(got > 0);
	assert_true(a.used <= a.cap);
	/* a request larger than the whole cap fails outright */
	assert_null(arena_alloc(&a, 64 * 1024 + 1));
	assert_null(arena_alloc(&a, MIB));
	arena_fini(&a);

	/* a cap smaller than one request: NULL, not a partial block */
	arena_init(&a, 100);
	assert_null(arena_alloc(&a, 1000));
	assert_true(a.used <= a.cap);
	arena_fini(&a);
}

/* Sizes that would overflow a size computation must fail, not wrap. */
static void test_arena_huge_sizes(void **state)
{
	arena_t a;
	(void)state;

	/* An unbounded cap: only sizes that cannot be represented are
	 * tried, so no huge malloc() is attempted (ASan would abort on it). */
	arena_init(&a, SIZE_MAX);
	assert_null(arena_alloc(&a, SIZE_MAX));
	assert_null(arena_alloc(&a, SIZE_MAX - 1));
	assert_null(arena_alloc(&a, SIZE_MAX - 15));
	/* rounds up to SIZE_MAX - 15; adding the block header must not wrap */
	assert_null(arena_alloc(&a, SIZE_MAX - 20));
	assert_null(arena_calloc(&a, SIZE_MAX / 2, 3));
	assert_null(arena_calloc(&a, 3, SIZE_MAX / 2));
	assert_null(arena_strndup(&a, "x", SIZE_MAX));
	arena_fini(&a);

	arena_init(&a, MIB);
	assert_null(arena_alloc(&a, SIZE_MAX - 16));
	assert_null(arena_alloc(&a, SIZE_MAX - 20));
	assert_null(arena_alloc(&a, SIZE_MAX - 64));
	assert_null(arena_alloc(&a, SIZE_MAX / 2 + 1));
	assert_null(arena_calloc(&a, (SIZE_MAX >> 4) + 1, 16));
	assert_true(a.used <= a.cap);
	arena_fini(&a);
}

static void test_arena_calloc(void **state)
{
	arena_t a;
	unsigned char *p;
	(void)state;

	arena_init(&a, MIB);
	/* dirty the block first so zeroing is really tested */
	p = arena_alloc(&a, 4000);
	assert_non_null(p);
	memset(p, 0xFF, 4000);
	p = arena_calloc(&a, 100, 30);
	assert_non_null(p);
	for (size_t i = 0; i < 3000; i++)
		assert_int_equal(p[i], 0);
	p = arena_calloc(&a, 0, 10);
	assert_non_null(p);
	arena_fini(&a);
}

/* Big allocations are whole and do not disturb what came before or after. */
static void test_arena_big(void **state)
{
	arena_t a;
	unsigned char *s1, *big, *s2, *big2;
	size_t n = 200 * 1024;
	(void)state;

	arena_init(&a, 4 * MIB);
	s1 = arena_alloc(&a, 100);
	assert_non_null(s1);
	memset(s1, 1, 100);
	big = arena_alloc(&a, n);
	assert_non_null(big);
	memset(big, 2, n);
	s2 = arena_alloc(&a, 100);
	assert_non_null(s2);
	memset(s2, 3, 100);
	big2 = arena_alloc(&a, 3 * n);
	assert_non_null(big2);
	memset(big2, 4, 3 * n);
	for (size_t i = 0; i < 100; i++) {
		assert_int_equal(s1[i], 1);
		assert_int_equal(s2[i], 3);
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(big[i], 2);
	for (size_t i = 0; i < 3 * n; i++)
		assert_int_equal(big2[i], 4);
	assert_true(a.used <= a.cap);
	assert_true(a.used >= 4 * n); /* the cap counts what was really taken */
	arena_fini(&a);
}

/* "Frees every block; the arena is empty again and may be reused." */
static void test_arena_reuse(void **state)
{
	arena_t a;
	(void)state;

	arena_init(&a, 64 * 1024);
	for (int round = 0; round < 3; round++) {
		size_t got = 0;
		while (arena_alloc(&a, 1000))
			got += 1000;
		assert_true(got >= 32 * 1024); /* the full cap is available again */
		arena_fini(&a);
		assert_null(a.head);
		assert_int_equal(a.used, 0);
		assert_int_equal(a.cap, 64 * 1024);
	}
	arena_fini(&a); /* twice is harmless */
}

static void test_arena_strings(void **state)
{
	arena_t a;
	char *s;
	(void)state;

	arena_init(&a, MIB);
	s = arena_strdup(&a, "hello");
	assert_string_equal(s, "hello");
	s = arena_strndup(&a, "hello world", 5);
	assert_string_equal(s, "hello");
	s = arena_strndup(&a, "", 0);
	assert_string_equal(s, "");
	s = arena_strndup(&a, "a\0b", 3); /* copies n bytes, then terminates */
	assert_int_equal(memcmp(s, "a\0b\0", 4), 0);
	s = arena_printf(&a, "%s/%d/%05.1f", "Patient", 42, 3.14159);
	assert_string_equal(s, "Patient/42/003.1");
	s = arena_printf(&a, "%s", "");
	assert_string_equal(s, "");
	/* longer than a block */
	s = arena_printf(&a, "%020000d", 7);
	assert_non_null(s);
	assert_int_equal(strlen(s), 20000);
	assert_int_equal(s[19999], '7');
	arena_fini(&a);

	/* printf past the cap fails cleanly */
	arena_init(&a, 16 * 1024);
	assert_null(arena_printf(&a, "%0100000d", 1));
	arena_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_alloc_basic),
		cmocka_unit_test(test_arena_alignment),
		cmocka_unit_test(test_arena_zero_size),
		cmocka_unit_test(test_arena_cap),
		cmocka_unit_test(test_arena_huge_sizes),
		cmocka_unit_test(test_arena_calloc),
		cmocka_unit_test(test_arena_big),
		cmocka_unit_test(test_arena_reuse),
		cmocka_unit_test(test_arena_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
