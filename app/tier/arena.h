/*
 * arena.h - per-request memory. Everything a request allocates comes from its
 * arena and is released at once by arena_reset() when the request ends; the
 * chunks are kept for the next request, so a warm worker does not call
 * malloc on the hot path.
 */
#ifndef ARENA_H
#define ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena_chunk;

struct arena {
	struct arena_chunk	*head;		/* chunk being filled */
	struct arena_chunk	*spare;		/* emptied chunks, for reuse */
	ProtobufCAllocator	 pb;		/* protobuf-c allocator on this arena */
};

void	 arena_init(struct arena *);
void	 arena_reset(struct arena *);
void	 arena_free(struct arena *);
void	*arena_alloc(struct arena *, size_t);
void	*arena_calloc(struct arena *, size_t, size_t);
char	*arena_strdup(struct arena *, const char *);
char	*arena_strndup(struct arena *, const char *, size_t);
void	*arena_memdup(struct arena *, const void *, size_t);
char	*arena_printf(struct arena *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
char	*arena_vprintf(struct arena *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));

#endif
