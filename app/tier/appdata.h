/*
 * appdata.h - the application's part of a session record: its own Protobuf
 * message (struct shoal_app .data), which the tier's record holds as bytes
 * it never reads (proto/session.proto, field app).
 */
#ifndef APPDATA_H
#define APPDATA_H

#include <protobuf-c/protobuf-c.h>

struct arena;

/* An empty message of the app's type, in arena memory. */
ProtobufCMessage *appdata_empty(struct arena *,
		    const ProtobufCMessageDescriptor *);
/* The message the bytes hold; NULL when they are not one (logged by the
 * caller). Empty bytes are an empty message. */
ProtobufCMessage *appdata_decode(struct arena *,
		    const ProtobufCMessageDescriptor *,
		    const ProtobufCBinaryData *);
/* The message's bytes, in arena memory. */
ProtobufCBinaryData appdata_encode(struct arena *, const ProtobufCMessage *);

#endif
