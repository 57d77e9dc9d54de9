/*
 * fuzz_record.c - record_session_decode() and record_user_decode() on any
 * bytes, as they could come back from Redis. Properties: an accepted
 * record meets the contract (schema, version, user), and decode/encode is
 * stable: encoding what was decoded, decoding that and encoding again gives
 * the same bytes, also through record_session_copy.
 */
#include "arena.h"
#include "fuzz.h"
#include "record.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena	 a;
	static int		 ready;
	Shoal__Session		*s, *s2, *c;
	Shoal__User		*u, *u2;
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
		FUZZ_CHECK(s->user != NULL && s->user[0] != '\0');
		FUZZ_CHECK(s->app != NULL);
		e1 = record_session_encode(&a, s, &n1);
		s2 = record_session_decode(&a, e1, n1);
		/* A record may grow past the limit only by what we add. */
		if (n1 <= RECORD_MAX_BYTES) {
			FUZZ_CHECK(s2 != NULL);
			e2 = record_session_encode(&a, s2, &n2);
			FUZZ_CHECK(n2 == n1 && memcmp(e1, e2, n1) == 0);
			c = record_session_copy(&a, s2);
			FUZZ_CHECK(c != NULL);
			e3 = record_session_encode(&a, c, &n3);
			FUZZ_CHECK(n3 == n1 && memcmp(e1, e3, n1) == 0);
		}
	}
	u = record_user_decode(&a, data, size);
	if (u != NULL) {
		FUZZ_CHECK(u->schema == RECORD_SCHEMA);
		FUZZ_CHECK(u->password_hash != NULL &&
		    u->password_hash[0] != '\0');
		e1 = record_user_encode(&a, u, &n1);
		u2 = record_user_decode(&a, e1, n1);
		if (n1 <= RECORD_MAX_BYTES) {
			FUZZ_CHECK(u2 != NULL);
			e2 = record_user_encode(&a, u2, &n2);
			FUZZ_CHECK(n2 == n1 && memcmp(e1, e2, n1) == 0);
		}
	}
	arena_reset(&a);
	return 0;
}
