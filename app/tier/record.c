/*
 * record.c - Protobuf encoding of the stored records (see record.h).
 */
#include <string.h>

#include "arena.h"
#include "record.h"
#include "users.h"

/*
 * protobuf-c keeps fields it does not know and writes them back, which is
 * what lets old and new workers share records. It also accepts field number
 * 0 when the key is spelled as a long varint, but writes it back in a form
 * it then refuses: a record that decodes must encode into one that decodes,
 * so such a record is refused whole.
 */
int
record_message_sane(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor	*d = m->descriptor;
	const ProtobufCFieldDescriptor		*f;
	unsigned				 i;
	size_t					 k, n;

	for (k = 0; k < m->n_unknown_fields; k++)
		if (m->unknown_fields[k].tag == 0)
			return 0;
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			const ProtobufCMessage *const *sub =
			    *(const ProtobufCMessage *const *const *)
			    ((const char *)m + f->offset);

			n = *(const size_t *)((const char *)m +
			    f->quantifier_offset);
			for (k = 0; k < n; k++)
				if (!record_message_sane(sub[k]))
					return 0;
		} else {
			const ProtobufCMessage *sub =
			    *(const ProtobufCMessage *const *)
			    ((const char *)m + f->offset);

			if (sub != NULL && !record_message_sane(sub))
				return 0;
		}
	}
	return 1;
}

Shoal__Session *
record_session_decode(struct arena *a, const void *data, size_t len)
{
	Shoal__Session	*s;

	if (len == 0 || len > RECORD_MAX_BYTES)
		return NULL;
	s = shoal__session__unpack(&a->pb, len, data);
	if (s == NULL || !record_message_sane(&s->base))
		return NULL;
	/* A record from a future layout we cannot read safely, or one
	 * missing what every session has: not ours to use. A guest has no
	 * user; everyone else has a valid one. */
	if (s->schema != RECORD_SCHEMA || s->user == NULL || s->version == 0)
		return NULL;
	switch (s->kind) {
	case SHOAL__KIND__GUEST:
		if (s->user[0] != '\0')
			return NULL;
		break;
	case SHOAL__KIND__USER:
	case SHOAL__KIND__REMEMBERED:
		if (!user_name_valid(s->user))
			return NULL;
		break;
	default:
		return NULL;
	}
	return s;
}

unsigned char *
record_session_encode(struct arena *a, const Shoal__Session *s, size_t *len)
{
	size_t		 n = shoal__session__get_packed_size(s);
	unsigned char	*out = arena_alloc(a, n ? n : 1);

	*len = shoal__session__pack(s, out);
	return out;
}

Shoal__Session *
record_session_copy(struct arena *a, const Shoal__Session *s)
{
	size_t		 len;
	unsigned char	*bytes = record_session_encode(a, s, &len);

	return record_session_decode(a, bytes, len);
}
