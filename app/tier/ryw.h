/*
 * ryw.h - read-your-writes: WAL positions (LSNs) as PostgreSQL writes them
 * ("16/B374D848") and as the session record keeps them (a uint64), and
 * the session's note of its last write (session.c).
 */
#ifndef RYW_H
#define RYW_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

struct shoal_req;

/* Reads "HI/LO" (hex, each at most 8 digits) into *lsn: 0, or -1. */
int	ryw_lsn_parse(const char *, uint64_t *lsn);
/* Writes lsn as PostgreSQL does into buf (at least 18 bytes). */
void	ryw_lsn_format(uint64_t lsn, char *buf, size_t len);

/* The WAL position this request's session must see (0: none). */
uint64_t ryw_session_lsn(const struct shoal_req *);
/*
 * Records in the session that a write reached lsn on the primary, so that
 * its next reads see it. Nothing for a visitor without a session (there is
 * nothing to carry it).
 */
enum shoal_status session_note_write(struct shoal_req *, uint64_t lsn);

#endif
