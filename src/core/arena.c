/*
 * arena.c - bump allocation in blocks of at least ARENA_BLOCK bytes.
 * Requests typically allocate a few KiB (parsed URL, headers, query
 * parameters), so one block usually serves the whole request.
 */
#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 8192
#define ARENA_ALIGN 16

struct arena_block {
	struct arena_block *next;
	size_t size; /* usable bytes in data */
	size_t off;  /* next free byte */
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

void arena_init(arena_t *a, size_t cap)
{
	a->head = NULL;
	a->used = 0;
	a->cap = cap;
}

void arena_fini(arena_t *a)
{
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->used = 0;
}

void *arena_alloc(arena_t *a, size_t size)
{
	struct arena_block *b = a->head;
	size_t need, bsize;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (b && b->size - b->off >= need) {
		void *p = b->data + b->off;
		b->off += need;
		return p;
	}
	bsize = need > ARENA_BLOCK ? need : ARENA_BLOCK;
	/* The cap counts whole blocks: that is what the process really pays. */
	if (a->used > a->cap || bsize > a->cap - a->used || sizeof *b > a->cap - a->used - bsize)
		return NULL;
	b = malloc(sizeof *b + bsize);
	if (!b)
		return NULL;
	b->size = bsize;
	b->off = need;
	a->used += sizeof *b + bsize;
	/* A big one-off allocation goes behind the current block so the
	 * remaining room of the current block is not wasted. */
	if (a->head && need > ARENA_BLOCK) {
		b->next = a->head->next;
		a->head->next = b;
	} else {
		b->next = a->head;
		a->head = b;
	}
	return b->data;
}

void *arena_calloc(arena_t *a, size_t n, size_t size)
{
	void *p;
	if (size && n > SIZE_MAX / size)
		return NULL;
	p = arena_alloc(a, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
	char *p;
	if (n == SIZE_MAX)
		return NULL;
	p = arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(arena_t *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	p = arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}
