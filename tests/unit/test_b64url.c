/*
 * test_b64url.c - b64url.h: strict, unpadded base64url.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "b64url.h"

/* Decodes the whole of s; returns the length or -1. */
static long
dec(unsigned char *out, size_t outsz, const char *s)
{
	return b64url_decode(out, outsz, s, strlen(s));
}

static void
len_macro_matches_encoder_for_0_to_70_bytes(void **state)
{
	unsigned char	 in[70];
	char		 out[128];
	size_t		 n;

	(void)state;
	for (n = 0; n < sizeof in; n++)
		in[n] = (unsigned char)(n * 37 + 5);
	assert_int_equal(B64URL_LEN(0), 0);
	assert_int_equal(B64URL_LEN(1), 2);
	assert_int_equal(B64URL_LEN(2), 3);
	assert_int_equal(B64URL_LEN(3), 4);
	assert_int_equal(B64URL_LEN(4), 6);
	assert_int_equal(B64URL_LEN(32), 43);
	assert_int_equal(B64URL_LEN(65), 87);
	for (n = 0; n <= sizeof in; n++) {
		assert_int_equal(b64url_encode(out, sizeof out, in, n), 0);
		assert_int_equal(strlen(out), B64URL_LEN(n));
	}
}

static void
empty_input_encodes_and_decodes_to_empty(void **state)
{
	char		 out[4];
	unsigned char	 bin[4];

	(void)state;
	memset(out, 'x', sizeof out);
	assert_int_equal(b64url_encode(out, sizeof out, (const unsigned char *)"",
	    0), 0);
	assert_string_equal(out, "");
	assert_int_equal(b64url_decode(bin, sizeof bin, "", 0), 0);
	/* Empty input needs no room at all but the NUL. */
	assert_int_equal(b64url_encode(out, 1, (const unsigned char *)"", 0), 0);
}

/* RFC 4648 section 10, padding dropped (the url alphabet shares these). */
static void
rfc4648_vectors_round_trip(void **state)
{
	static const struct {
		const char	*bin, *enc;
	} v[] = {
		{ "", "" },
		{ "f", "Zg" },
		{ "fo", "Zm8" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg" },
		{ "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};
	char		 out[32];
	unsigned char	 bin[32];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		size_t	 n = strlen(v[i].bin);

		assert_int_equal(b64url_encode(out, sizeof out,
		    (const unsigned char *)v[i].bin, n), 0);
		assert_string_equal(out, v[i].enc);
		assert_int_equal(dec(bin, sizeof bin, v[i].enc), (long)n);
		assert_memory_equal(bin, v[i].bin, n);
	}
}

/* Bytes whose standard encoding has '+' and '/' use '-' and '_'. */
static void
url_alphabet_vectors(void **state)
{
	static const struct {
		unsigned char	 bin[3];
		size_t		 n;
		const char	*enc;
	} v[] = {
		{ { 0xfb, 0xff, 0xbf }, 3, "-_-_" },	/* std "+/+/" */
		{ { 0xff, 0xff, 0xff }, 3, "____" },	/* std "////" */
		{ { 0xfb, 0xff }, 2, "-_8" },		/* std "+/8=" */
		{ { 0xf8 }, 1, "-A" },			/* std "+A==" */
		{ { 0xfc }, 1, "_A" },			/* std "/A==" */
		{ { 0x3e, 0xff }, 2, "Pv8" },
	};
	char		 out[8];
	unsigned char	 bin[8];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		assert_int_equal(b64url_encode(out, sizeof out, v[i].bin,
		    v[i].n), 0);
		assert_string_equal(out, v[i].enc);
		assert_int_equal(dec(bin, sizeof bin, v[i].enc), (long)v[i].n);
		assert_memory_equal(bin, v[i].bin, v[i].n);
	}
}

static void
every_byte_value_round_trips(void **state)
{
	unsigned char	 in[256], back[256];
	char		 out[B64URL_LEN(256) + 1];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof in; i++)
		in[i] = (unsigned char)i;
	assert_int_equal(b64url_encode(out, sizeof out, in, sizeof in), 0);
	assert_null(strpbrk(out, "+/="));
	assert_int_equal(dec(back, sizeof back, out), (long)sizeof in);
	assert_memory_equal(back, in, sizeof in);
}

static void
padding_is_rejected(void **state)
{
	unsigned char	 bin[16];

	(void)state;
	assert_int_equal(dec(bin, sizeof bin, "Zg=="), -1);
	assert_int_equal(dec(bin, sizeof bin, "Zg="), -1);
	assert_int_equal(dec(bin, sizeof bin, "Zm8="), -1);
	assert_int_equal(dec(bin, sizeof bin, "Zm9v===="), -1);
	assert_int_equal(dec(bin, sizeof bin, "===="), -1);
}

static void
standard_alphabet_is_rejected(void **state)
{
	unsigned char	 bin[16];

	(void)state;
	assert_int_equal(dec(bin, sizeof bin, "+/+/"), -1);
	assert_int_equal(dec(bin, sizeof bin, "-_+_"), -1);
	assert_int_equal(dec(bin, sizeof bin, "-_-/"), -1);
	assert_int_equal(dec(bin, sizeof bin, "+A"), -1);
	assert_int_equal(dec(bin, sizeof bin, "/A"), -1);
}

static void
whitespace_is_rejected(void **state)
{
	static const char *const bad[] = {
		"Zm 9v", " Zm9v", "Zm9v ", "Zm9v\n", "\tZm9v", "Zm\r\n9v",
		"Zm9v\v", "Zm9v\f",
	};
	unsigned char	 bin[16];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(dec(bin, sizeof bin, bad[i]), -1);
}

static void
other_bytes_are_rejected(void **state)
{
	static const char *const bad[] = {
		"Zm9.", "Zm9!", "Zm*v", "Zm9v.", "Zm9\x7f", "Zm9~",
	};
	unsigned char	 bin[16];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(dec(bin, sizeof bin, bad[i]), -1);
	/* A NUL inside the counted length is a bad character too. */
	assert_int_equal(b64url_decode(bin, sizeof bin, "Zm\0v", 4), -1);
}

/*
 * Bytes 0x80-0xff are not in the alphabet. (libsodium 1.0.18 reads them as
 * signed chars and takes every one of them for '_', value 63.)
 */
static void
non_ascii_bytes_are_rejected(void **state)
{
	unsigned char	 bin[16];
	char		 s[5];
	int		 c, accepted = 0, first = 0;

	(void)state;
	for (c = 0x80; c <= 0xff; c++) {
		memcpy(s, "AAA", 3);
		s[3] = (char)c;
		s[4] = '\0';
		if (b64url_decode(bin, sizeof bin, s, 4) != -1) {
			if (accepted++ == 0)
				first = c;
		}
		/* In the middle of the input too. */
		s[1] = (char)c;
		s[3] = 'A';
		if (b64url_decode(bin, sizeof bin, s, 4) != -1) {
			if (accepted++ == 0)
				first = c;
		}
	}
	if (accepted != 0)
		fail_msg("%d inputs with a byte >= 0x80 decoded (first: 0x%02x)",
		    accepted, first);
}

static void
length_1_mod_4_is_rejected(void **state)
{
	unsigned char	 bin[16];

	(void)state;
	assert_int_equal(dec(bin, sizeof bin, "A"), -1);
	assert_int_equal(dec(bin, sizeof bin, "Z"), -1);
	assert_int_equal(dec(bin, sizeof bin, "AAAAA"), -1);
	assert_int_equal(dec(bin, sizeof bin, "Zm9vZ"), -1);
	assert_int_equal(dec(bin, sizeof bin, "Zm9vYmFyZ"), -1);
}

/* Unused low bits of the last character must be zero. */
static void
noncanonical_trailing_bits_are_rejected(void **state)
{
	unsigned char	 bin[16];
	size_t		 k;

	(void)state;
	/* One byte: 12 bits, 4 unused. */
	assert_int_equal(dec(bin, sizeof bin, "AA"), 1);
	assert_int_equal(bin[0], 0);
	assert_int_equal(dec(bin, sizeof bin, "AB"), -1);
	assert_int_equal(dec(bin, sizeof bin, "AP"), -1);
	assert_int_equal(dec(bin, sizeof bin, "AQ"), 1);
	assert_int_equal(dec(bin, sizeof bin, "Zh"), -1);	/* "f" is Zg */
	/* Two bytes: 18 bits, 2 unused. */
	assert_int_equal(dec(bin, sizeof bin, "AAA"), 2);
	assert_int_equal(dec(bin, sizeof bin, "AAB"), -1);
	assert_int_equal(dec(bin, sizeof bin, "AAC"), -1);
	assert_int_equal(dec(bin, sizeof bin, "AAE"), 2);
	assert_int_equal(dec(bin, sizeof bin, "Zm9"), -1);	/* "fo" is Zm8 */
	/* Exactly one of the 16 last characters is canonical for 1 byte. */
	{
		const char	*alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
		    "klmnopqrstuvwxyz0123456789-_";
		int		 ok = 0;

		for (k = 0; k < 64; k++) {
			char	 s[3] = { 'Z', alpha[k], '\0' };

			if (dec(bin, sizeof bin, s) == 1)
				ok++;
		}
		assert_int_equal(ok, 4);	/* g, w, A, Q: low 4 bits 0 */
	}
}

static void
decode_reads_exactly_inlen(void **state)
{
	unsigned char	 bin[16];

	(void)state;
	/* The rest of the string is not looked at. */
	assert_int_equal(b64url_decode(bin, sizeof bin, "Zm9vYmFy!!", 8), 6);
	assert_memory_equal(bin, "foobar", 6);
	assert_int_equal(b64url_decode(bin, sizeof bin, "Zm9vYmFy", 4), 3);
	assert_memory_equal(bin, "foo", 3);
}

static void
small_output_buffers_fail(void **state)
{
	unsigned char	 bin[8];
	char		 out[8];

	(void)state;
	assert_int_equal(dec(bin, 2, "Zm9v"), -1);
	assert_int_equal(dec(bin, 3, "Zm9v"), 3);
	assert_int_equal(dec(bin, 5, "Zm9vYmFy"), -1);
	assert_int_equal(dec(bin, 0, "Zg"), -1);
	/* Encoding needs B64URL_LEN(n) + 1. */
	assert_int_equal(b64url_encode(out, 4, (const unsigned char *)"foo", 3),
	    -1);
	assert_int_equal(b64url_encode(out, 5, (const unsigned char *)"foo", 3),
	    0);
	assert_string_equal(out, "Zm9v");
	assert_int_equal(b64url_encode(out, 0, (const unsigned char *)"f", 1),
	    -1);
}

static void
random_inputs_round_trip(void **state)
{
	unsigned char	 in[100], back[100];
	char		 out[B64URL_LEN(100) + 1];
	size_t		 n;
	int		 round;

	(void)state;
	for (round = 0; round < 200; round++) {
		n = randombytes_uniform(sizeof in + 1);
		randombytes_buf(in, n);
		assert_int_equal(b64url_encode(out, sizeof out, in, n), 0);
		assert_int_equal(dec(back, sizeof back, out), (long)n);
		assert_memory_equal(back, in, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(len_macro_matches_encoder_for_0_to_70_bytes),
		cmocka_unit_test(empty_input_encodes_and_decodes_to_empty),
		cmocka_unit_test(rfc4648_vectors_round_trip),
		cmocka_unit_test(url_alphabet_vectors),
		cmocka_unit_test(every_byte_value_round_trips),
		cmocka_unit_test(padding_is_rejected),
		cmocka_unit_test(standard_alphabet_is_rejected),
		cmocka_unit_test(whitespace_is_rejected),
		cmocka_unit_test(other_bytes_are_rejected),
		cmocka_unit_test(non_ascii_bytes_are_rejected),
		cmocka_unit_test(length_1_mod_4_is_rejected),
		cmocka_unit_test(noncanonical_trailing_bits_are_rejected),
		cmocka_unit_test(decode_reads_exactly_inlen),
		cmocka_unit_test(small_output_buffers_fail),
		cmocka_unit_test(random_inputs_round_trip),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("b64url", tests, NULL, NULL);
}
