/*
 * appdata.c - the application's session data (see appdata.h).
 */
#include "appdata.h"
#include "arena.h"
#include "record.h"

ProtobufCMessage *
appdata_empty(struct arena *a, const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage	*m = arena_alloc(a, d->sizeof_message);

	protobuf_c_message_init(d, m);
	return m;
}

ProtobufCMessage *
appdata_decode(struct arena *a, const ProtobufCMessageDescriptor *d,
    const ProtobufCBinaryData *b)
{
	ProtobufCMessage	*m;

	if (b->len == 0)
		return appdata_empty(a, d);
	if (b->len > RECORD_MAX_BYTES)
		return NULL;
	m = protobuf_c_message_unpack(d, &a->pb, b->len, b->data);
	return m != NULL && record_message_sane(m) ? m : NULL;
}

ProtobufCBinaryData
appdata_encode(struct arena *a, const ProtobufCMessage *m)
{
	ProtobufCBinaryData	 b;
	size_t			 n = protobuf_c_message_get_packed_size(m);

	b.data = arena_alloc(a, n ? n : 1);
	b.len = protobuf_c_message_pack(m, b.data);
	return b;
}
