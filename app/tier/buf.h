/*
 * buf.h - a growable byte buffer for responses and log lines. A buffer owns
 * its memory (malloc) and is reused across requests by buf_reset(), so it
 * grows to the largest response once and then stays.
 *
 * A buffer made by buf_init_arena() grows in a request's arena instead: it
 * is for what a handler builds during one request (a JSON document), and
 * its memory goes with the arena; buf_free() only forgets it.
 */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

struct buf {
	char		*data;
	size_t		 len;
	size_t		 cap;
	struct arena	*arena;		/* NULL: malloc */
};

void	buf_init(struct buf *);
void	buf_init_arena(struct buf *, struct arena *);
void	buf_free(struct buf *);
void	buf_reset(struct buf *);
void	buf_reserve(struct buf *, size_t extra);
void	buf_put(struct buf *, const void *, size_t);
void	buf_puts(struct buf *, const char *);
void	buf_putc(struct buf *, char);
/* Decimal, at least width digits (zero-padded); cheaper than printf. */
void	buf_put_uint(struct buf *, unsigned long long, int width);
void	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* The contents as a C string (a NUL is kept after len, not counted). */
const char *buf_cstr(struct buf *);

#endif
