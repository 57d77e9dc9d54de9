/*
 * arena.c - per-request bump allocator (see arena.h).
 *
 * Memory comes in chunks of at least ARENA_CHUNK bytes; an allocation larger
 * than that gets a chunk of its own. arena_reset() moves every chunk to the
 * spare list, so steady traffic reuses the same few chunks forever. A chunk
 * larger than the default is freed on reset instead of kept, so one huge
 * request does not pin its memory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "oom.h"

#define ARENA_CHUNK	(16 * 1024)
#define ARENA_ALIGN	16

struct arena_chunk {
	struct arena_chunk	*next;
	size_t			 size;	/* usable bytes in data */
	size_t			 used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

static void *
pb_alloc(void *ctx, size_t n)
{
	return arena_alloc(ctx, n);
}

static void
pb_free(void *ctx, void *p)
{
	/* Freed with the arena. */
	(void)ctx;
	(void)p;
}

void
arena_init(struct arena *a)
{
	memset(a, 0, sizeof *a);
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb.allocator_data = a;
}

static struct arena_chunk *
chunk_new(size_t need)
{
	struct arena_chunk	*c;
	size_t			 size = need > ARENA_CHUNK ? need : ARENA_CHUNK;

	if (size > SIZE_MAX - sizeof *c)
		oom();
	c = xmalloc(sizeof *c + size);
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk	*c = a->head;
	size_t			 off;

	if (n > SIZE_MAX - ARENA_ALIGN)
		oom();
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (c == NULL || c->size - c->used < n) {
		if (n <= ARENA_CHUNK && a->spare != NULL) {
			c = a->spare;
			a->spare = c->next;
			c->used = 0;
		} else
			c = chunk_new(n);
		c->next = a->head;
		a->head = c;
	}
	off = c->used;
	c->used += n;
	return c->data + off;
}

void *
arena_calloc(struct arena *a, size_t n, size_t size)
{
	void	*p;

	if (size != 0 && n > SIZE_MAX / size)
		oom();
	p = arena_alloc(a, n * size);
	memset(p, 0, n * size);
	return p;
}

void *
arena_memdup(struct arena *a, const void *src, size_t n)
{
	void	*p = arena_alloc(a, n + 1);

	if (n > 0)
		memcpy(p, src, n);
	((char *)p)[n] = '\0';
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	return arena_memdup(a, s, n);
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_memdup(a, s, strlen(s));
}

char *
arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list	 copy;
	char	*p;
	int	 n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		oom();
	p = arena_alloc(a, (size_t)n + 1);
	(void)vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

void
arena_reset(struct arena *a)
{
	struct arena_chunk	*c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		if (c->size > ARENA_CHUNK) {
			free(c);
			continue;
		}
		c->next = a->spare;
		a->spare = c;
	}
	a->head = NULL;
}

void
arena_free(struct arena *a)
{
	struct arena_chunk	*c, *next;

	arena_reset(a);
	for (c = a->spare; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->spare = NULL;
}
