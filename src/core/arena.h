/*
 * arena.h - a per-request bump allocator with a byte cap.
 *
 * Everything that belongs to one request is allocated from its arena and
 * released with one arena_fini() when the request ends, so request
 * handlers cannot leak. The cap turns runaway input into ERR_TOOBIG (413)
 * instead of memory exhaustion. Not thread-safe: one arena, one thread.
 */
#ifndef FHIRD_CORE_ARENA_H
#define FHIRD_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena_block;

typedef struct arena {
	struct arena_block *head; /* newest block first */
	size_t used;              /* bytes handed out plus block overhead */
	size_t cap;               /* hard limit on used */
} arena_t;

/* Prepares an empty arena that will never hold more than cap bytes. */
void arena_init(arena_t *a, size_t cap);

/* Frees every block; the arena is empty again and may be reused. */
void arena_fini(arena_t *a);

/* size bytes aligned for any type; NULL when the cap or malloc fails. */
void *arena_alloc(arena_t *a, size_t size);

/* Zero-filled arena_alloc(). */
void *arena_calloc(arena_t *a, size_t n, size_t size);

/* NUL-terminated copy of s[0..n); NULL on failure. */
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_strdup(arena_t *a, const char *s);

/* printf into the arena; NULL on failure. */
char *arena_printf(arena_t *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena_t *a, const char *fmt, va_list ap);

#endif
