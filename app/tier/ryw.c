/*
 * ryw.c - WAL positions for read-your-writes (see ryw.h; the session's
 * note is in session.c, the replica's check in db.c).
 */
#include <stdio.h>
#include <string.h>

#include "request.h"
#include "ryw.h"

static int
hexpart(const char *s, size_t n, uint32_t *out)
{
	uint32_t	 v = 0;
	size_t		 i;
	int		 d;

	if (n == 0 || n > 8)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

int
ryw_lsn_parse(const char *s, uint64_t *lsn)
{
	const char	*slash;
	uint32_t	 hi, lo;

	if (s == NULL || (slash = strchr(s, '/')) == NULL)
		return -1;
	if (hexpart(s, (size_t)(slash - s), &hi) != 0 ||
	    hexpart(slash + 1, strlen(slash + 1), &lo) != 0)
		return -1;
	*lsn = (uint64_t)hi << 32 | lo;
	return 0;
}

void
ryw_lsn_format(uint64_t lsn, char *buf, size_t len)
{
	snprintf(buf, len, "%X/%X", (unsigned)(lsn >> 32),
	    (unsigned)(lsn & 0xffffffffu));
}

uint64_t
ryw_session_lsn(const struct shoal_req *r)
{
	if (r->state == SESSION_NONE || r->session == NULL)
		return 0;
	return r->session->write_lsn;
}
