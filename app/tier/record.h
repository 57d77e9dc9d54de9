/*
 * record.h - the session record as it is stored in Redis: a Protobuf
 * message (proto/session.proto) encoded with protobuf-c. Decoding
 * allocates from the request's arena; fields this build does not know are
 * kept and written back unchanged.
 */
#ifndef RECORD_H
#define RECORD_H

#include <stddef.h>

#include "proto/session.pb-c.h"

struct arena;

/* A record as Redis holds it: its encoded bytes. */
struct record_bytes {
	unsigned char	*data;
	size_t		 len;
};

#define RECORD_SCHEMA		1
#define RECORD_MAX_BYTES	16384	/* larger values are not ours */

/* 0 for a decoded message that would not decode again once encoded. */
int		 record_message_sane(const ProtobufCMessage *);

/* NULL when the bytes are not a session record we can use. */
Shoal__Session	*record_session_decode(struct arena *, const void *, size_t);
/* Encodes into arena memory; sets *len. */
unsigned char	*record_session_encode(struct arena *, const Shoal__Session *,
		    size_t *len);
/* A deep copy, so a change can be applied again to a fresh record. */
Shoal__Session	*record_session_copy(struct arena *, const Shoal__Session *);

#endif
