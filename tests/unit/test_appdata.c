/*
 * test_appdata.c - appdata.h: the app's own message inside the session
 * record, decoded and encoded through its descriptor. The tier's messages
 * stand in for the app's: shoal.User for a flat message, and a message
 * described here, unit.Users { repeated shoal.User users = 1; }, for one
 * with embedded messages (as a cart of lines is).
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

#include "appdata.h"
#include "arena.h"
#include "record.h"
#include "sample.pb-c.h"

static struct arena	 a;

/* unit.Users, described the way protoc-c would. */
typedef struct {
	ProtobufCMessage	 base;
	size_t			 n_users;
	Unit__Sample		**users;
} Unit__Users;

static const ProtobufCMessageDescriptor users_descriptor;

static void
unit__users__init(ProtobufCMessage *m)
{
	memset(m, 0, sizeof(Unit__Users));
	m->descriptor = &users_descriptor;
}

static const ProtobufCFieldDescriptor users_fields[] = {
	{
		"users", 1, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_MESSAGE,
		offsetof(Unit__Users, n_users), offsetof(Unit__Users, users),
		&unit__sample__descriptor, NULL, 0, 0, NULL, NULL,
	},
};
static const unsigned users_by_name[] = { 0 };
static const ProtobufCIntRange users_ranges[] = { { 1, 0 }, { 0, 1 } };
static const ProtobufCMessageDescriptor users_descriptor = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "unit.Users", "Users",
	"Unit__Users", "unit", sizeof(Unit__Users), 1, users_fields,
	users_by_name, 1, users_ranges, unit__users__init, NULL, NULL, NULL,
};

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

static ProtobufCBinaryData
bytes_of(const void *data, size_t len)
{
	ProtobufCBinaryData	 b;

	b.data = arena_memdup(&a, data, len);
	b.len = len;
	return b;
}

static void
empty_message_has_defaults(void **state)
{
	ProtobufCMessage	*m;
	Unit__Sample		*u;
	ProtobufCBinaryData	 b;

	(void)state;
	m = appdata_empty(&a, &unit__sample__descriptor);
	assert_non_null(m);
	assert_ptr_equal(m->descriptor, &unit__sample__descriptor);
	u = (Unit__Sample *)m;
	assert_int_equal(u->schema, 0);
	assert_string_equal(u->name, "");
	assert_int_equal(u->created, 0);
	assert_int_equal(m->n_unknown_fields, 0);
	/* It encodes to nothing. */
	b = appdata_encode(&a, m);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
}

static void
round_trip(void **state)
{
	Unit__Sample		*u, *d;
	ProtobufCBinaryData	 b, b2;

	(void)state;
	u = (Unit__Sample *)appdata_empty(&a, &unit__sample__descriptor);
	u->schema = 3;
	u->name = arena_strdup(&a, "pear \xc3\xa9");
	u->password_hash = arena_strdup(&a, "x");
	u->created = -7;
	b = appdata_encode(&a, &u->base);
	assert_int_equal(b.len, unit__sample__get_packed_size(u));
	d = (Unit__Sample *)appdata_decode(&a, &unit__sample__descriptor, &b);
	assert_non_null(d);
	assert_ptr_equal(d->base.descriptor, &unit__sample__descriptor);
	assert_int_equal(d->schema, 3);
	assert_string_equal(d->name, "pear \xc3\xa9");
	assert_string_equal(d->password_hash, "x");
	assert_int_equal(d->created, -7);
	b2 = appdata_encode(&a, &d->base);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
}

/* Embedded messages, as an app's cart has its lines. */
static void
round_trip_with_embedded_messages(void **state)
{
	Unit__Users		*m, *d;
	Unit__Sample		*u[2];
	ProtobufCBinaryData	 b;

	(void)state;
	m = (Unit__Users *)appdata_empty(&a, &users_descriptor);
	assert_int_equal(m->n_users, 0);
	u[0] = (Unit__Sample *)appdata_empty(&a, &unit__sample__descriptor);
	u[1] = (Unit__Sample *)appdata_empty(&a, &unit__sample__descriptor);
	u[0]->name = arena_strdup(&a, "apple");
	u[0]->schema = 3;
	u[1]->name = arena_strdup(&a, "pear");
	u[1]->schema = 4000000000u;
	m->n_users = 2;
	m->users = u;
	b = appdata_encode(&a, &m->base);
	d = (Unit__Users *)appdata_decode(&a, &users_descriptor, &b);
	assert_non_null(d);
	assert_int_equal(d->n_users, 2);
	assert_string_equal(d->users[0]->name, "apple");
	assert_int_equal(d->users[0]->schema, 3);
	assert_string_equal(d->users[1]->name, "pear");
	assert_int_equal(d->users[1]->schema, 4000000000u);
}

static void
empty_bytes_are_an_empty_message(void **state)
{
	ProtobufCBinaryData	 b = { 0, NULL };
	Unit__Sample		*u;
	Unit__Users		*m;

	(void)state;
	u = (Unit__Sample *)appdata_decode(&a, &unit__sample__descriptor, &b);
	assert_non_null(u);
	assert_ptr_equal(u->base.descriptor, &unit__sample__descriptor);
	assert_string_equal(u->name, "");
	assert_int_equal(u->schema, 0);
	m = (Unit__Users *)appdata_decode(&a, &users_descriptor, &b);
	assert_non_null(m);
	assert_int_equal(m->n_users, 0);
}

static void
garbage_is_refused(void **state)
{
	static const unsigned char g1[] = { 0xff, 0xff, 0xff, 0xff };
	static const unsigned char g2[] = { 0x12, 0x7f, 'a' };	/* short */
	static const unsigned char g3[] = { 0x08, 0x80 };	/* cut varint */
	static const unsigned char g4[] = { 0x07 };		/* wire type 7 */
	/* Field 1 of unit.Users holds a message: not this one. */
	static const unsigned char g5[] = { 0x0a, 0x02, 0xff, 0xff };
	static const unsigned char *const bad[] = { g1, g2, g3, g4 };
	static const size_t badlen[] = {
		sizeof g1, sizeof g2, sizeof g3, sizeof g4,
	};
	ProtobufCBinaryData	 b;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b = bytes_of(bad[i], badlen[i]);
		if (appdata_decode(&a, &unit__sample__descriptor, &b) != NULL)
			fail_msg("garbage %zu decoded", i);
		if (appdata_decode(&a, &users_descriptor, &b) != NULL)
			fail_msg("garbage %zu decoded as unit.Users", i);
	}
	b = bytes_of(g5, sizeof g5);
	assert_null(appdata_decode(&a, &users_descriptor, &b));
}

/* A field the app's newer release added survives this release. */
static void
unknown_fields_are_kept(void **state)
{
	unsigned char		 buf[64], *p;
	ProtobufCMessage	*m;
	ProtobufCBinaryData	 b, b2;

	(void)state;
	p = buf;
	p = varint(p, 2 << 3 | 2);
	p = varint(p, 5);
	memcpy(p, "apple", 5);
	p += 5;
	p = varint(p, 77 << 3 | 2);
	p = varint(p, 4);
	memcpy(p, "gift", 4);
	p += 4;
	b = bytes_of(buf, (size_t)(p - buf));
	m = appdata_decode(&a, &unit__sample__descriptor, &b);
	assert_non_null(m);
	assert_int_equal(m->n_unknown_fields, 1);
	assert_string_equal(((Unit__Sample *)m)->name, "apple");
	b2 = appdata_encode(&a, m);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
}

/* Pads a message with an unknown bytes field (tag 100) to n bytes. */
static ProtobufCBinaryData
message_of_size(size_t n)
{
	ProtobufCBinaryData	 b;
	unsigned char		*p;
	size_t			 pad;

	/* tag 100 (2 bytes) + length (2 bytes for 128..16383) + data. */
	assert_true(n >= 4 + 128 && n - 4 < 16384);
	pad = n - 4;
	b.data = arena_alloc(&a, n);
	b.len = n;
	p = varint(b.data, 100 << 3 | 2);
	p = varint(p, pad);
	assert_int_equal(p - b.data, 4);
	memset(p, 'z', pad);
	return b;
}

static void
oversize_is_refused(void **state)
{
	ProtobufCBinaryData	 b;
	ProtobufCMessage	*m;

	(void)state;
	b = message_of_size(RECORD_MAX_BYTES);
	m = appdata_decode(&a, &unit__sample__descriptor, &b);
	assert_non_null(m);
	assert_int_equal(m->n_unknown_fields, 1);
	b = message_of_size(RECORD_MAX_BYTES + 1);
	assert_null(appdata_decode(&a, &unit__sample__descriptor, &b));
	/* Any length past the limit, however little the bytes hold. */
	b = bytes_of("\x08\x01", 2);
	b.len = (size_t)-1;
	assert_null(appdata_decode(&a, &unit__sample__descriptor, &b));
}

/*
 * Field number 0 is invalid; protobuf-c keeps it as an unknown field when
 * its key is spelled as a long varint (85 00) and writes it back as 05,
 * which it then refuses. Whatever decodes must decode again once written,
 * at any depth.
 */
static void
field_number_0_is_refused(void **state)
{
	static const unsigned char flat[] = {
		0x12, 0x03, 'b', 'o', 'b',
		0x85, 0x00, 1, 2, 3, 4,		/* field 0, fixed32 */
	};
	static const unsigned char nested[] = {
		0x0a, 0x0b,			/* users: 11 bytes */
		0x12, 0x03, 'b', 'o', 'b',
		0x85, 0x00, 1, 2, 3, 4,
	};
	static const unsigned char nested_ok[] = {
		0x0a, 0x05, 0x12, 0x03, 'b', 'o', 'b',
	};
	ProtobufCBinaryData	 b;

	(void)state;
	b = bytes_of(flat, sizeof flat);
	assert_null(appdata_decode(&a, &unit__sample__descriptor, &b));
	b = bytes_of(nested, sizeof nested);
	assert_null(appdata_decode(&a, &users_descriptor, &b));
	b = bytes_of(nested_ok, sizeof nested_ok);
	assert_non_null(appdata_decode(&a, &users_descriptor, &b));
	/* Without the field 0, the flat message reads. */
	b = bytes_of(flat, 5);
	assert_non_null(appdata_decode(&a, &unit__sample__descriptor, &b));
}

static void
random_bytes_never_crash(void **state)
{
	unsigned char		 buf[96];
	ProtobufCMessage	*m;
	ProtobufCBinaryData	 b, b2;
	int			 i;

	(void)state;
	for (i = 0; i < 5000; i++) {
		b.len = 1 + randombytes_uniform(sizeof buf);
		randombytes_buf(buf, b.len);
		b.data = buf;
		m = appdata_decode(&a, i % 2 ? &users_descriptor :
		    &unit__sample__descriptor, &b);
		if (m != NULL) {
			b2 = appdata_encode(&a, m);
			assert_non_null(appdata_decode(&a, m->descriptor, &b2));
		}
		if (i % 500 == 0)
			arena_reset(&a);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_message_has_defaults),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(round_trip_with_embedded_messages),
		cmocka_unit_test(empty_bytes_are_an_empty_message),
		cmocka_unit_test(garbage_is_refused),
		cmocka_unit_test(unknown_fields_are_kept),
		cmocka_unit_test(oversize_is_refused),
		cmocka_unit_test(field_number_0_is_refused),
		cmocka_unit_test(random_bytes_never_crash),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("appdata", tests, setup, teardown);
}
