/*
 * test_record.c - record.h: the session record as stored in Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "arena.h"
#include "record.h"
#include "sample.pb-c.h"

static struct arena	 a;

static int
setup(void **state)
{
	(void)state;
	arena_init(&a);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	arena_free(&a);
	return 0;
}

/*
 * The app's data in the sample. The tier never reads it, so any message
 * will do: unit.Sample (sample.proto) stands in for the app's own message.
 */
static ProtobufCBinaryData
sample_app(void)
{
	Unit__Sample		 u = UNIT__SAMPLE__INIT;
	ProtobufCBinaryData	 b;

	u.schema = 7;
	u.name = arena_strdup(&a, "cart: apple x3, pear \xc3\xa9 x4000000000");
	u.created = -1;
	b.len = unit__sample__get_packed_size(&u);
	b.data = arena_alloc(&a, b.len);
	assert_int_equal(unit__sample__pack(&u, b.data), b.len);
	return b;
}

/* A session for "alice" with the app's data, in arena memory. */
static Shoal__Session *
sample(void)
{
	Shoal__Session	*s = arena_alloc(&a, sizeof *s);

	shoal__session__init(s);
	s->schema = RECORD_SCHEMA;
	s->version = 42;
	s->user = arena_strdup(&a, "alice");
	s->created = 1700000000;
	s->expires = 1700604800;
	s->app = sample_app();
	return s;
}

static void
assert_sample(const Shoal__Session *s)
{
	ProtobufCBinaryData	 want = sample_app();

	assert_non_null(s);
	assert_int_equal(s->schema, RECORD_SCHEMA);
	assert_int_equal(s->version, 42);
	assert_string_equal(s->user, "alice");
	assert_int_equal(s->created, 1700000000);
	assert_int_equal(s->expires, 1700604800);
	assert_int_equal(s->kind, SHOAL__KIND__USER);
	assert_int_equal(s->app.len, want.len);
	assert_non_null(s->app.data);
	assert_memory_equal(s->app.data, want.data, want.len);
}

/* Appends a varint to p; returns the new end. */
static unsigned char *
varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static void
session_round_trip(void **state)
{
	unsigned char	*bytes;
	size_t		 len;
	Shoal__Session	*s;

	(void)state;
	bytes = record_session_encode(&a, sample(), &len);
	assert_non_null(bytes);
	assert_true(len > 0);
	s = record_session_decode(&a, bytes, len);
	assert_sample(s);
	/* Negative times survive too (int64). */
	s->created = -5;
	bytes = record_session_encode(&a, s, &len);
	s = record_session_decode(&a, bytes, len);
	assert_non_null(s);
	assert_int_equal(s->created, -5);
}

static void
session_without_app_has_empty_app(void **state)
{
	Shoal__Session	*s = sample(), *d;
	unsigned char	*bytes;
	size_t		 len;

	(void)state;
	s->app.data = NULL;
	s->app.len = 0;
	bytes = record_session_encode(&a, s, &len);
	d = record_session_decode(&a, bytes, len);
	assert_non_null(d);
	assert_int_equal(d->app.len, 0);
	d = record_session_copy(&a, d);
	assert_non_null(d);
	assert_int_equal(d->app.len, 0);
}

/* A field from a newer release (tag 99 varint, tag 100 bytes) survives. */
static void
session_unknown_fields_are_kept(void **state)
{
	unsigned char	*bytes, *buf, *p, *again;
	unsigned char	 extra[16];
	size_t		 len, elen, len2;
	Shoal__Session	*s;

	(void)state;
	bytes = record_session_encode(&a, sample(), &len);
	p = varint(extra, 99 << 3 | 0);
	p = varint(p, 123456);
	p = varint(p, 100 << 3 | 2);
	p = varint(p, 3);
	memcpy(p, "xyz", 3);
	p += 3;
	elen = (size_t)(p - extra);
	buf = arena_alloc(&a, len + elen);
	memcpy(buf, bytes, len);
	memcpy(buf + len, extra, elen);

	s = record_session_decode(&a, buf, len + elen);
	assert_sample(s);
	/* A change by this release, then written back. */
	s->version++;
	again = record_session_encode(&a, s, &len2);
	assert_non_null(memmem(again, len2, extra, elen));
	s = record_session_decode(&a, again, len2);
	assert_non_null(s);
	assert_int_equal(s->version, 43);
	/* And through a copy. */
	s = record_session_copy(&a, s);
	assert_non_null(s);
	again = record_session_encode(&a, s, &len2);
	assert_non_null(memmem(again, len2, extra, elen));
}

/*
 * The app's bytes are the app's business: whatever they hold (a field of a
 * newer app release, or bytes that are no message at all) the tier reads,
 * changes and writes the record around them unchanged.
 */
static void
app_bytes_are_carried_unread(void **state)
{
	static const unsigned char junk[] = { 0xff, 0xff, 0xff, 0xff, 0x07 };
	static const unsigned char field0[] = { 0x85, 0x00, 1, 2, 3, 4 };
	ProtobufCBinaryData	 app = sample_app();
	unsigned char		 with_extra[128], *p, *bytes, *again;
	const unsigned char	*payload[3];
	size_t			 plen[3], len, len2, i;
	Shoal__Session		*s, *d;

	(void)state;
	/* The stand-in message plus its app's field 77 (bytes "gift"). */
	assert_true(app.len + 8 <= sizeof with_extra);
	memcpy(with_extra, app.data, app.len);
	p = varint(with_extra + app.len, 77 << 3 | 2);
	p = varint(p, 4);
	memcpy(p, "gift", 4);
	p += 4;
	payload[0] = with_extra;
	plen[0] = (size_t)(p - with_extra);
	payload[1] = junk;
	plen[1] = sizeof junk;
	payload[2] = field0;
	plen[2] = sizeof field0;
	for (i = 0; i < 3; i++) {
		s = sample();
		s->app.data = arena_memdup(&a, payload[i], plen[i]);
		s->app.len = plen[i];
		bytes = record_session_encode(&a, s, &len);
		d = record_session_decode(&a, bytes, len);
		assert_non_null(d);
		assert_int_equal(d->app.len, plen[i]);
		assert_memory_equal(d->app.data, payload[i], plen[i]);
		/* A change by this release, then written back and copied. */
		d->version++;
		again = record_session_encode(&a, d, &len2);
		assert_int_equal(len2, len);
		d = record_session_decode(&a, again, len2);
		assert_non_null(d);
		assert_int_equal(d->version, 43);
		d = record_session_copy(&a, d);
		assert_non_null(d);
		assert_int_equal(d->app.len, plen[i]);
		assert_memory_equal(d->app.data, payload[i], plen[i]);
	}
}

/* Appends one old CartLine { string item = 1; uint32 qty = 2; } as field 1
 * of the enclosing AppData; returns the new end. */
static unsigned char *
old_cart_line(unsigned char *p, const char *item, uint32_t qty)
{
	unsigned char	 line[64], *q = line;
	size_t		 n = strlen(item);

	assert_true(n < 32);
	q = varint(q, 1 << 3 | 2);
	q = varint(q, n);
	memcpy(q, item, n);
	q += n;
	q = varint(q, 2 << 3 | 0);
	q = varint(q, qty);
	p = varint(p, 1 << 3 | 2);
	p = varint(p, (uint64_t)(q - line));
	memcpy(p, line, (size_t)(q - line));
	return p + (q - line);
}

/*
 * Records written before app became bytes hold field 6 as an embedded
 * message (AppData { repeated CartLine cart = 1; }), of the same wire type:
 * they read, their app bytes are exactly the embedded message (which the
 * app decodes as its own), and they are written back byte for byte.
 */
static void
old_layout_record_reads_unchanged(void **state)
{
	Shoal__Session	*s = sample(), *d;
	unsigned char	 app[128], *ap, *sess, *buf, *p, *again;
	size_t		 alen, slen, blen, len2;

	(void)state;
	ap = old_cart_line(app, "apple", 3);
	ap = old_cart_line(ap, "pear \xc3\xa9", 4000000000u);
	alen = (size_t)(ap - app);
	s->app.data = NULL;
	s->app.len = 0;
	sess = record_session_encode(&a, s, &slen);
	buf = arena_alloc(&a, slen + 4 + alen);
	memcpy(buf, sess, slen);
	p = varint(buf + slen, 6 << 3 | 2);
	p = varint(p, alen);
	memcpy(p, app, alen);
	blen = (size_t)(p + alen - buf);

	d = record_session_decode(&a, buf, blen);
	assert_non_null(d);
	assert_string_equal(d->user, "alice");
	assert_int_equal(d->version, 42);
	assert_int_equal(d->kind, SHOAL__KIND__USER);
	assert_int_equal(d->app.len, alen);
	assert_memory_equal(d->app.data, app, alen);
	again = record_session_encode(&a, d, &len2);
	assert_int_equal(len2, blen);
	assert_memory_equal(again, buf, blen);
	d = record_session_copy(&a, d);
	assert_non_null(d);
	assert_memory_equal(d->app.data, app, alen);

	/* An old record with an empty cart still carried field 6, empty. */
	memcpy(buf, sess, slen);
	p = varint(buf + slen, 6 << 3 | 2);
	p = varint(p, 0);
	d = record_session_decode(&a, buf, (size_t)(p - buf));
	assert_non_null(d);
	assert_int_equal(d->app.len, 0);
}

static void
garbage_and_empty_are_rejected(void **state)
{
	static const unsigned char g1[] = { 0xff, 0xff, 0xff, 0xff };
	static const unsigned char g2[] = { 0x0a, 0x7f, 'a' };	/* short */
	static const unsigned char g3[] = { 0x08, 0x80 };	/* cut varint */
	static const unsigned char g4[] = { 0x07 };		/* wire type 7 */
	static const char g5[] = "{\"schema\":1,\"user\":\"alice\"}";

	(void)state;
	assert_null(record_session_decode(&a, g1, sizeof g1));
	assert_null(record_session_decode(&a, g2, sizeof g2));
	assert_null(record_session_decode(&a, g3, sizeof g3));
	assert_null(record_session_decode(&a, g4, sizeof g4));
	assert_null(record_session_decode(&a, g5, sizeof g5 - 1));
	assert_null(record_session_decode(&a, "", 0));
	assert_null(record_session_decode(&a, g1, 0));
}

static void
random_bytes_never_crash(void **state)
{
	unsigned char	 buf[128];
	Shoal__Session	*s;
	int		 i;

	(void)state;
	for (i = 0; i < 5000; i++) {
		size_t	 n = 1 + randombytes_uniform(sizeof buf);

		randombytes_buf(buf, n);
		s = record_session_decode(&a, buf, n);
		if (s != NULL) {
			assert_int_equal(s->schema, RECORD_SCHEMA);
			assert_true(s->version != 0);
			if (s->kind == SHOAL__KIND__GUEST)
				assert_string_equal(s->user, "");
			else {
				assert_true(s->kind == SHOAL__KIND__USER ||
				    s->kind == SHOAL__KIND__REMEMBERED);
				assert_true(s->user[0] != '\0');
			}
		}
		if (i % 500 == 0)
			arena_reset(&a);
	}
}

static Shoal__Session *
reencode(Shoal__Session *s)
{
	unsigned char	*bytes;
	size_t		 len;

	bytes = record_session_encode(&a, s, &len);
	return record_session_decode(&a, bytes, len);
}

static void
wrong_schema_version_or_user_is_rejected(void **state)
{
	Shoal__Session	*s;

	(void)state;
	s = sample();
	s->schema = 2;
	assert_null(reencode(s));
	s->schema = 0;
	assert_null(reencode(s));
	s = sample();
	s->version = 0;
	assert_null(reencode(s));
	s = sample();
	s->user = arena_strdup(&a, "");
	assert_null(reencode(s));
	s = sample();
	assert_non_null(reencode(s));
}

/* A guest has no user; a signed-in session (for the browser session or
 * remembered) has a valid one. */
static void
kind_and_user_must_agree(void **state)
{
	static const char *const bad_names[] = {
		"", "al", "Alice", "al ice", "al;ice", "alice\n",
		"abcdefghijklmnopqrstuvwxyz0123456",	/* 33 */
	};
	Shoal__Session	*s, *d;
	size_t		 i;

	(void)state;
	s = sample();
	s->kind = SHOAL__KIND__GUEST;
	s->user = arena_strdup(&a, "");
	d = reencode(s);
	assert_non_null(d);
	assert_int_equal(d->kind, SHOAL__KIND__GUEST);
	assert_string_equal(d->user, "");
	d = record_session_copy(&a, d);
	assert_non_null(d);
	assert_int_equal(d->kind, SHOAL__KIND__GUEST);
	/* A guest with a name is not a guest. */
	s->user = arena_strdup(&a, "alice");
	assert_null(reencode(s));

	s = sample();
	s->kind = SHOAL__KIND__REMEMBERED;
	d = reencode(s);
	assert_non_null(d);
	assert_int_equal(d->kind, SHOAL__KIND__REMEMBERED);
	assert_string_equal(d->user, "alice");
	for (i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
		s = sample();
		s->user = arena_strdup(&a, bad_names[i]);
		if (reencode(s) != NULL)
			fail_msg("USER record with user \"%s\" accepted",
			    bad_names[i]);
		s->kind = SHOAL__KIND__REMEMBERED;
		if (reencode(s) != NULL)
			fail_msg("REMEMBERED record with user \"%s\" accepted",
			    bad_names[i]);
	}
	s = sample();
	s->user = arena_strdup(&a, "abcdefghijklmnopqrstuvwxyz012345");
	assert_non_null(reencode(s));
}

/* A kind this release does not know is a record it cannot apply the right
 * lifetimes to. */
static void
unknown_kind_is_rejected(void **state)
{
	static const int kinds[] = { 3, 7, 127, 128, -1 };
	Shoal__Session	*s;
	unsigned char	*bytes, *buf, *p;
	size_t		 len, i;

	(void)state;
	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		s = sample();
		s->kind = (Shoal__Kind)kinds[i];
		if (reencode(s) != NULL)
			fail_msg("kind %d accepted", kinds[i]);
		s->user = arena_strdup(&a, "");
		if (reencode(s) != NULL)
			fail_msg("kind %d without a user accepted", kinds[i]);
	}
	/* Spelled by hand, not by this build's encoder: field 7 = 7. */
	bytes = record_session_encode(&a, sample(), &len);
	buf = arena_alloc(&a, len + 2);
	memcpy(buf, bytes, len);
	p = varint(buf + len, 7 << 3 | 0);
	p = varint(p, 7);
	assert_null(record_session_decode(&a, buf, (size_t)(p - buf)));
	/* The same with a known kind reads. */
	varint(buf + len + 1, SHOAL__KIND__REMEMBERED);
	assert_non_null(record_session_decode(&a, buf, (size_t)(p - buf)));
}

/* Pads the sample with an unknown bytes field so it encodes to n bytes. */
static unsigned char *
sample_of_size(size_t n)
{
	unsigned char	*bytes, *buf, *p;
	size_t		 len, pad, hdr;

	bytes = record_session_encode(&a, sample(), &len);
	buf = arena_alloc(&a, n);
	memcpy(buf, bytes, len);
	/* tag 100 (2 bytes) + length (2 bytes for 128..16383) + data. */
	hdr = 2 + 2;
	assert_true(n >= len + hdr + 128);
	pad = n - len - hdr;
	p = varint(buf + len, 100 << 3 | 2);
	p = varint(p, pad);
	assert_int_equal((size_t)(p - buf), len + hdr);
	memset(p, 'z', pad);
	return buf;
}

static void
oversize_is_rejected(void **state)
{
	unsigned char	*buf;

	(void)state;
	buf = sample_of_size(RECORD_MAX_BYTES);
	assert_sample(record_session_decode(&a, buf, RECORD_MAX_BYTES));
	buf = sample_of_size(RECORD_MAX_BYTES + 1);
	assert_null(record_session_decode(&a, buf, RECORD_MAX_BYTES + 1));
}

static void
copy_is_deep(void **state)
{
	Shoal__Session	*orig, *copy;

	(void)state;
	orig = reencode(sample());
	assert_non_null(orig);
	copy = record_session_copy(&a, orig);
	assert_sample(copy);
	assert_ptr_not_equal(copy, orig);
	assert_ptr_not_equal(copy->app.data, orig->app.data);
	assert_ptr_not_equal(copy->user, orig->user);

	copy->app.data[0] ^= 0xff;
	copy->app.len--;
	copy->user[0] = 'X';
	copy->version = 7;
	copy->kind = SHOAL__KIND__REMEMBERED;
	assert_sample(orig);
}

/*
 * Whatever decodes must still decode after this build writes it back, or a
 * session update (decode, change, encode, compare-and-set) stores a record
 * nobody can read. A field number 0 is invalid protobuf; protobuf-c 1.4
 * rejects it when its key is one byte (05) but keeps it as an unknown field
 * when the key is spelled as a longer varint (85 00), and writes it back
 * as 05.
 */
static void
decoded_record_reencodes_readable(void **state)
{
	static const unsigned char sess[] = {
		0x08, 0x01, 0x10, 0x01, 0x1a, 0x03, 'b', 'o', 'b',
		0x85, 0x00, 1, 2, 3, 4,		/* field 0, fixed32 */
	};
	/* The same inside the app's bytes (field 6), where an old record's
	 * embedded message would have had it. */
	static const unsigned char sess_app[] = {
		0x08, 0x01, 0x10, 0x01, 0x1a, 0x03, 'b', 'o', 'b',
		0x32, 0x06, 0x85, 0x00, 1, 2, 3, 4,
	};
	Shoal__Session	*s;
	unsigned char	*bytes;
	size_t		 len;

	(void)state;
	s = record_session_decode(&a, sess, sizeof sess);
	if (s != NULL) {
		bytes = record_session_encode(&a, s, &len);
		if (record_session_decode(&a, bytes, len) == NULL)
			fail_msg("session with field number 0 decoded, but its "
			    "re-encoding does not");
	}
	s = record_session_decode(&a, sess_app, sizeof sess_app);
	if (s != NULL) {
		bytes = record_session_encode(&a, s, &len);
		assert_int_equal(len, sizeof sess_app);
		assert_memory_equal(bytes, sess_app, len);
		if (record_session_decode(&a, bytes, len) == NULL)
			fail_msg("session with field number 0 in its app bytes "
			    "decoded, but its re-encoding does not");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(session_round_trip),
		cmocka_unit_test(session_without_app_has_empty_app),
		cmocka_unit_test(session_unknown_fields_are_kept),
		cmocka_unit_test(app_bytes_are_carried_unread),
		cmocka_unit_test(old_layout_record_reads_unchanged),
		cmocka_unit_test(garbage_and_empty_are_rejected),
		cmocka_unit_test(random_bytes_never_crash),
		cmocka_unit_test(wrong_schema_version_or_user_is_rejected),
		cmocka_unit_test(kind_and_user_must_agree),
		cmocka_unit_test(unknown_kind_is_rejected),
		cmocka_unit_test(oversize_is_rejected),
		cmocka_unit_test(copy_is_deep),
		cmocka_unit_test(decoded_record_reencodes_readable),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("record", tests, setup, teardown);
}
