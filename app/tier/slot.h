/*
 * slot.h - which of Redis Cluster's 16384 hash slots a key belongs to, as
 * the cluster specification defines it: CRC16 (XMODEM: polynomial 0x1021,
 * initial value 0, no reflection) of the key modulo 16384, where a key
 * holding a hash tag (the bytes between its first '{' and the first '}'
 * after it, when there is at least one) is hashed by its tag alone. Keys
 * that share a tag share a slot, which is what lets one script touch
 * several of them (keys.h).
 */
#ifndef SLOT_H
#define SLOT_H

#include <stddef.h>
#include <stdint.h>

#define SLOT_COUNT	16384

uint16_t	slot_crc16(const void *, size_t);
unsigned	slot_of_key(const char *key, size_t len);

#endif
