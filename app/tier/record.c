/*
 * record.c - Protobuf encoding of the stored records (see record.h).
 */
#include <string.h>

#include "arena.h"
#include "record.h"

Shoal__Session *
record_session_decode(struct arena *a, const void *data, size_t len)
{
	Shoal__Session	*s;

	if (len == 0 || len > RECORD_MAX_BYTES)
		return NULL;
	s = shoal__session__unpack(&a->pb, len, data);
	if (s == NULL)
		return NULL;
	/* A record from a future layout we cannot read safely, or one
	 * missing what every session has: not ours to use. */
	if (s->schema != RECORD_SCHEMA || s->user == NULL ||
	    s->user[0] == '\0' || s->version == 0)
		return NULL;
	if (s->app == NULL) {
		s->app = arena_alloc(a, sizeof *s->app);
		shoal__app_data__init(s->app);
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

Shoal__User *
record_user_decode(struct arena *a, const void *data, size_t len)
{
	Shoal__User	*u;

	if (len == 0 || len > RECORD_MAX_BYTES)
		return NULL;
	u = shoal__user__unpack(&a->pb, len, data);
	if (u == NULL)
		return NULL;
	if (u->schema != RECORD_SCHEMA || u->name == NULL ||
	    u->password_hash == NULL || u->password_hash[0] == '\0')
		return NULL;
	return u;
}

unsigned char *
record_user_encode(struct arena *a, const Shoal__User *u, size_t *len)
{
	size_t		 n = shoal__user__get_packed_size(u);
	unsigned char	*out = arena_alloc(a, n ? n : 1);

	*len = shoal__user__pack(u, out);
	return out;
}
