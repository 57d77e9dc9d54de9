/*
 * oom.h - the one out-of-memory policy: a failed allocation ends the process
 * with a log line. A worker that cannot allocate a few kilobytes is in a state
 * no request can be served from; the balancer retries elsewhere and the
 * supervisor restarts it.
 */
#ifndef OOM_H
#define OOM_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
void	 oom(void) __attribute__((noreturn));

#endif
