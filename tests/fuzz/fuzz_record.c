/*
 * fuzz_record.c - record_session_decode() on any bytes, as they could come
 * back from Redis, and appdata_decode() on the same bytes as an app's
 * message (unit.Sample, tests/unit/sample.proto, stands in for it).
 * Properties: an accepted record meets the contract (schema, version, a
 * guest without a user, everyone else with a valid one), and decode/encode
 * is stable: encoding what was decoded, decoding that and encoding again
 * gives the same bytes, also through record_session_copy, with the app's
 * bytes carried unchanged. Whatever appdata_decode accepts encodes into
 * bytes it accepts again.
 */
#include "appdata.h"
#include "arena.h"
#include "fuzz.h"
#include "record.h"
#include "sample.pb-c.h"
#include "users.h"

static int
same_bytes(const ProtobufCBinaryData *x, const ProtobufCBinaryData *y)
{
	return x->len == y->len &&
	    (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena	 a;
	static int		 ready;
	Shoal__Session		*s, *s2, *c;
	ProtobufCMessage	*m, *m2;
	ProtobufCBinaryData	 in, b1, b2;
	unsigned char		*e1, *e2, *e3;
	size_t			 n1, n2, n3;

	data = FUZZ_DATA(data, size);
	if (!ready) {
		fuzz_init();
		arena_init(&a);
		ready = 1;
	}
	s = record_session_decode(&a, data, size);
	if (s != NULL) {
		FUZZ_CHECK(size > 0 && size <= RECORD_MAX_BYTES);
		FUZZ_CHECK(s->schema == RECORD_SCHEMA && s->version != 0);
		FUZZ_CHECK(s->user != NULL);
		if (s->kind == SHOAL__KIND__GUEST)
			FUZZ_CHECK(s->user[0] == '\0');
		else {
			FUZZ_CHECK(s->kind == SHOAL__KIND__USER ||
			    s->kind == SHOAL__KIND__REMEMBERED);
			FUZZ_CHECK(user_name_valid(s->user));
		}
		FUZZ_CHECK(s->app.len <= size);
		FUZZ_CHECK(s->app.len == 0 || s->app.data != NULL);
		e1 = record_session_encode(&a, s, &n1);
		s2 = record_session_decode(&a, e1, n1);
		/* A record may grow past the limit only by what we add. */
		if (n1 <= RECORD_MAX_BYTES) {
			FUZZ_CHECK(s2 != NULL);
			FUZZ_CHECK(s2->kind == s->kind);
			FUZZ_CHECK(strcmp(s2->user, s->user) == 0);
			FUZZ_CHECK(same_bytes(&s2->app, &s->app));
			e2 = record_session_encode(&a, s2, &n2);
			FUZZ_CHECK(n2 == n1 && memcmp(e1, e2, n1) == 0);
			c = record_session_copy(&a, s2);
			FUZZ_CHECK(c != NULL);
			FUZZ_CHECK(same_bytes(&c->app, &s->app));
			e3 = record_session_encode(&a, c, &n3);
			FUZZ_CHECK(n3 == n1 && memcmp(e1, e3, n1) == 0);
		}
	}
	in.data = size ? arena_memdup(&a, data, size) : NULL;
	in.len = size;
	m = appdata_decode(&a, &unit__sample__descriptor, &in);
	if (m != NULL) {
		FUZZ_CHECK(size <= RECORD_MAX_BYTES);
		FUZZ_CHECK(m->descriptor == &unit__sample__descriptor);
		b1 = appdata_encode(&a, m);
		if (b1.len <= RECORD_MAX_BYTES) {
			m2 = appdata_decode(&a, &unit__sample__descriptor, &b1);
			FUZZ_CHECK(m2 != NULL);
			b2 = appdata_encode(&a, m2);
			FUZZ_CHECK(same_bytes(&b1, &b2));
		}
	} else
		FUZZ_CHECK(size > 0);
	arena_reset(&a);
	return 0;
}
