/*
 * test_record.c - record.h: session and user records as stored in Redis.
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

/* A session for "alice" with two cart lines, in arena memory. */
static Shoal__Session *
sample(void)
{
	Shoal__Session	*s = arena_alloc(&a, sizeof *s);
	Shoal__AppData	*app = arena_alloc(&a, sizeof *app);
	Shoal__CartLine	**lines = arena_alloc(&a, 2 * sizeof *lines);
	size_t		 i;

	shoal__session__init(s);
	shoal__app_data__init(app);
	for (i = 0; i < 2; i++) {
		lines[i] = arena_alloc(&a, sizeof *lines[i]);
		shoal__cart_line__init(lines[i]);
	}
	lines[0]->item = arena_strdup(&a, "apple");
	lines[0]->qty = 3;
	lines[1]->item = arena_strdup(&a, "pear \xc3\xa9");
	lines[1]->qty = 4000000000u;
	app->n_cart = 2;
	app->cart = lines;
	s->schema = RECORD_SCHEMA;
	s->version = 42;
	s->user = arena_strdup(&a, "alice");
	s->created = 1700000000;
	s->expires = 1700604800;
	s->app = app;
	return s;
}

static void
assert_sample(const Shoal__Session *s)
{
	assert_non_null(s);
	assert_int_equal(s->schema, RECORD_SCHEMA);
	assert_int_equal(s->version, 42);
	assert_string_equal(s->user, "alice");
	assert_int_equal(s->created, 1700000000);
	assert_int_equal(s->expires, 1700604800);
	assert_non_null(s->app);
	assert_int_equal(s->app->n_cart, 2);
	assert_string_equal(s->app->cart[0]->item, "apple");
	assert_int_equal(s->app->cart[0]->qty, 3);
	assert_string_equal(s->app->cart[1]->item, "pear \xc3\xa9");
	assert_int_equal(s->app->cart[1]->qty, 4000000000u);
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
session_without_app_gets_empty_app(void **state)
{
	Shoal__Session	*s = sample(), *d;
	unsigned char	*bytes;
	size_t		 len;

	(void)state;
	s->app = NULL;
	bytes = record_session_encode(&a, s, &len);
	d = record_session_decode(&a, bytes, len);
	assert_non_null(d);
	assert_non_null(d->app);
	assert_int_equal(d->app->n_cart, 0);
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

/* The application's own new field (inside AppData) survives as well. */
static void
app_unknown_fields_are_kept(void **state)
{
	Shoal__Session	*s = sample(), *d;
	Shoal__AppData	*app = s->app;
	unsigned char	*sess, *appb, *buf, *p, *again;
	unsigned char	 extra[16];
	size_t		 slen, alen, elen, len2;

	(void)state;
	s->app = NULL;
	sess = record_session_encode(&a, s, &slen);
	alen = shoal__app_data__get_packed_size(app);
	appb = arena_alloc(&a, alen);
	assert_int_equal(shoal__app_data__pack(app, appb), alen);
	p = varint(extra, 77 << 3 | 2);
	p = varint(p, 4);
	memcpy(p, "gift", 4);
	p += 4;
	elen = (size_t)(p - extra);
	/* session || field 6 { app || extra } */
	buf = arena_alloc(&a, slen + 16 + alen + elen);
	memcpy(buf, sess, slen);
	p = buf + slen;
	p = varint(p, 6 << 3 | 2);
	p = varint(p, alen + elen);
	memcpy(p, appb, alen);
	memcpy(p + alen, extra, elen);
	p += alen + elen;

	d = record_session_decode(&a, buf, (size_t)(p - buf));
	assert_non_null(d);
	assert_int_equal(d->app->n_cart, 2);
	d->app->cart[0]->qty = 9;
	again = record_session_encode(&a, d, &len2);
	assert_non_null(memmem(again, len2, extra, elen));
	d = record_session_copy(&a, d);
	again = record_session_encode(&a, d, &len2);
	assert_non_null(memmem(again, len2, extra, elen));
	assert_int_equal(d->app->cart[0]->qty, 9);
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
			assert_true(s->user[0] != '\0');
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
	Shoal__CartLine	**lines;

	(void)state;
	orig = reencode(sample());
	assert_non_null(orig);
	copy = record_session_copy(&a, orig);
	assert_sample(copy);
	assert_ptr_not_equal(copy, orig);
	assert_ptr_not_equal(copy->app, orig->app);
	assert_ptr_not_equal(copy->app->cart, orig->app->cart);
	assert_ptr_not_equal(copy->app->cart[0], orig->app->cart[0]);
	assert_ptr_not_equal(copy->user, orig->user);

	copy->app->cart[0]->qty = 99;
	copy->app->cart[0]->item[0] = 'A';
	copy->user[0] = 'X';
	copy->version = 7;
	lines = arena_alloc(&a, 1 * sizeof *lines);
	lines[0] = copy->app->cart[1];
	copy->app->cart = lines;
	copy->app->n_cart = 1;
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
	static const unsigned char user[] = {
		0x08, 0x01, 0x12, 0x03, 'b', 'o', 'b', 0x1a, 0x01, 'h',
		0x85, 0x00, 1, 2, 3, 4,
	};
	Shoal__Session	*s;
	Shoal__User	*u;
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
	u = record_user_decode(&a, user, sizeof user);
	if (u != NULL) {
		bytes = record_user_encode(&a, u, &len);
		if (record_user_decode(&a, bytes, len) == NULL)
			fail_msg("user with field number 0 decoded, but its "
			    "re-encoding does not");
	}
}

static Shoal__User *
user_sample(void)
{
	Shoal__User	*u = arena_alloc(&a, sizeof *u);

	shoal__user__init(u);
	u->schema = RECORD_SCHEMA;
	u->name = arena_strdup(&a, "alice");
	u->password_hash = arena_strdup(&a, "$argon2id$v=19$m=65536,t=2,p=1$"
	    "c2FsdHNhbHQ$aGFzaGhhc2g");
	u->created = 1700000000;
	return u;
}

static Shoal__User *
user_reencode(const Shoal__User *u)
{
	unsigned char	*bytes;
	size_t		 len;

	bytes = record_user_encode(&a, u, &len);
	return record_user_decode(&a, bytes, len);
}

static void
user_round_trip(void **state)
{
	Shoal__User	*u;

	(void)state;
	u = user_reencode(user_sample());
	assert_non_null(u);
	assert_int_equal(u->schema, RECORD_SCHEMA);
	assert_string_equal(u->name, "alice");
	assert_string_equal(u->password_hash, user_sample()->password_hash);
	assert_int_equal(u->created, 1700000000);
}

static void
user_bad_records_are_rejected(void **state)
{
	Shoal__User	*u;
	static const unsigned char g[] = { 0xff, 0x01 };

	(void)state;
	assert_null(record_user_decode(&a, g, sizeof g));
	assert_null(record_user_decode(&a, "", 0));
	u = user_sample();
	u->schema = 2;
	assert_null(user_reencode(u));
	u = user_sample();
	u->password_hash = arena_strdup(&a, "");
	assert_null(user_reencode(u));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(session_round_trip),
		cmocka_unit_test(session_without_app_gets_empty_app),
		cmocka_unit_test(session_unknown_fields_are_kept),
		cmocka_unit_test(app_unknown_fields_are_kept),
		cmocka_unit_test(garbage_and_empty_are_rejected),
		cmocka_unit_test(random_bytes_never_crash),
		cmocka_unit_test(wrong_schema_version_or_user_is_rejected),
		cmocka_unit_test(oversize_is_rejected),
		cmocka_unit_test(copy_is_deep),
		cmocka_unit_test(decoded_record_reencodes_readable),
		cmocka_unit_test(user_round_trip),
		cmocka_unit_test(user_bad_records_are_rejected),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("record", tests, setup, teardown);
}
