/*
 * fcgi_peek.c - a parameter of a FastCGI request, from a copy of its bytes
 * (see fcgi_peek.h). The record format is the FastCGI specification's: an
 * 8-byte header (version 1, type, request id, content length, padding
 * length), the content, the padding.
 */
#include <stdint.h>
#include <string.h>

#include "fcgi_peek.h"

#define FCGI_HEADER_LEN		8
#define FCGI_VERSION_1		1
#define FCGI_BEGIN_REQUEST	1
#define FCGI_PARAMS		4

/* A name or value length: one byte below 128, else four with the top bit
 * set. 0, or -1 when it does not fit in what is left. */
static int
pair_len(const unsigned char **p, const unsigned char *end, size_t *len)
{
	if (*p >= end)
		return -1;
	if (**p < 0x80) {
		*len = *(*p)++;
		return 0;
	}
	if (end - *p < 4)
		return -1;
	*len = ((size_t)((*p)[0] & 0x7f) << 24) | ((size_t)(*p)[1] << 16) |
	    ((size_t)(*p)[2] << 8) | (*p)[3];
	*p += 4;
	return 0;
}

/* Looks for name among the pairs of one PARAMS record's content: 1 found,
 * 0 not there, -1 a pair that runs past the record (split: give up). */
static int
search_pairs(const unsigned char *p, const unsigned char *end,
    const char *name, size_t namelen, const unsigned char **val, size_t *vlen)
{
	size_t	 nlen, len;

	while (p < end) {
		if (pair_len(&p, end, &nlen) != 0 ||
		    pair_len(&p, end, &len) != 0 ||
		    (size_t)(end - p) < nlen ||
		    (size_t)(end - p) - nlen < len)
			return -1;
		if (nlen == namelen && memcmp(p, name, nlen) == 0) {
			*val = p + nlen;
			*vlen = len;
			return 1;
		}
		p += nlen + len;
	}
	return 0;
}

int
fcgi_peek_param(const unsigned char *buf, size_t len, const char *name,
    const unsigned char **val, size_t *vlen)
{
	const unsigned char	*p = buf, *end = buf + len;
	size_t			 clen, plen, namelen = strlen(name);
	unsigned		 id = 0, rid;
	int			 began = 0, rc;

	while (end - p >= FCGI_HEADER_LEN) {
		if (p[0] != FCGI_VERSION_1)
			return 0;
		rid = ((unsigned)p[2] << 8) | p[3];
		clen = ((size_t)p[4] << 8) | p[5];
		plen = p[6];
		if ((size_t)(end - p) - FCGI_HEADER_LEN < clen + plen)
			return 0;	/* not all here yet */
		if (!began) {
			/* The first record begins the request. */
			if (p[1] != FCGI_BEGIN_REQUEST)
				return 0;
			began = 1;
			id = rid;
		} else if (p[1] != FCGI_PARAMS || rid != id)
			return 0;
		else if (clen == 0)
			return 0;	/* the end of the parameters */
		else if ((rc = search_pairs(p + FCGI_HEADER_LEN,
		    p + FCGI_HEADER_LEN + clen, name, namelen, val,
		    vlen)) != 0)
			return rc == 1;
		p += FCGI_HEADER_LEN + clen + plen;
	}
	return 0;
}
