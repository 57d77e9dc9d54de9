/*
 * slot.c - the hash slot of a key (see slot.h).
 */
#include <string.h>

#include "slot.h"

/* Bit by bit: a page's one or two keys are short, and a 512-byte table
 * would buy nothing measurable. */
uint16_t
slot_crc16(const void *p, size_t len)
{
	const unsigned char	*s = p;
	uint16_t		 crc = 0;
	size_t			 i;
	int			 bit;

	for (i = 0; i < len; i++) {
		crc ^= (uint16_t)(s[i] << 8);
		for (bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) :
			    (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned
slot_of_key(const char *key, size_t len)
{
	const char	*open, *close;

	open = memchr(key, '{', len);
	if (open != NULL) {
		close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
		if (close != NULL && close > open + 1)
			return slot_crc16(open + 1, (size_t)(close - open - 1)) &
			    (SLOT_COUNT - 1);
	}
	return slot_crc16(key, len) & (SLOT_COUNT - 1);
}
