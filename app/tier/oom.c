/*
 * oom.c - the out-of-memory policy (see oom.h).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oom.h"

void
oom(void)
{
	static const char msg[] =
	    "{\"level\":\"error\",\"msg\":\"out of memory, exiting\"}\n";
	ssize_t		 n;

	/* No stdio: it may want to allocate. Nothing to do if the line is
	 * lost: the process ends either way. */
	n = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)n;
	abort();
}

void *
xmalloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void	*p = realloc(old, n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	size_t	 n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}
