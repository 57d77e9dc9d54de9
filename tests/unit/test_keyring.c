/*
 * test_keyring.c - keyring.h: parsing, loading and generating keyrings.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "b64url.h"
#include "keyring.h"
#include "unit.h"

/* base64url of 32 bytes of 0x01 .. 0x20, and of the keys for other ids. */
static char	 k1[B64URL_LEN(KEY_BYTES) + 1];

static int
setup(void **state)
{
	unsigned char	 bytes[KEY_BYTES];
	size_t		 i;

	(void)state;
	for (i = 0; i < KEY_BYTES; i++)
		bytes[i] = (unsigned char)(i + 1);
	return b64url_encode(k1, sizeof k1, bytes, sizeof bytes);
}

/* Parses text expecting failure; returns the error line. */
static const char *
parse_fails(const char *text)
{
	static char	 err[256];
	struct keyring	 kr;

	memset(err, 0, sizeof err);
	if (keyring_parse(&kr, text, err, sizeof err) == 0) {
		keyring_free(&kr);
		fail_msg("keyring accepted: \"%s\"", text);
	}
	/* Nothing left to free or to look keys up in. */
	assert_null(kr.keys);
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	return err;
}

static void
one_key(void **state)
{
	struct keyring	 kr;
	char		 text[128], err[128];
	unsigned char	 want[KEY_BYTES];
	size_t		 i;

	(void)state;
	for (i = 0; i < KEY_BYTES; i++)
		want[i] = (unsigned char)(i + 1);
	snprintf(text, sizeof text, "7 %s\n", k1);
	assert_int_equal(keyring_parse(&kr, text, err, sizeof err), 0);
	assert_int_equal(kr.n, 1);
	assert_int_equal(keyring_signer(&kr)->id, 7);
	assert_memory_equal(keyring_signer(&kr)->bytes, want, KEY_BYTES);
	assert_ptr_equal(keyring_find(&kr, 7), keyring_signer(&kr));
	assert_null(keyring_find(&kr, 1));
	assert_null(keyring_find(&kr, 0));
	keyring_free(&kr);
	assert_int_equal(kr.n, 0);
	assert_null(kr.keys);
	keyring_free(&kr);	/* twice is harmless */
}

static void
several_keys_first_signs(void **state)
{
	struct keyring	 kr;
	char		 text[1024] = "", err[128];
	unsigned char	 want[KEY_BYTES];

	(void)state;
	unit_key_line(text, sizeof text, 3, 0);
	unit_key_line(text, sizeof text, 255, 0);
	unit_key_line(text, sizeof text, 1, 0);
	assert_int_equal(keyring_parse(&kr, text, err, sizeof err), 0);
	assert_int_equal(kr.n, 3);
	assert_int_equal(keyring_signer(&kr)->id, 3);
	assert_non_null(keyring_find(&kr, 255));
	assert_non_null(keyring_find(&kr, 1));
	unit_key_bytes(want, 255, 0);
	assert_memory_equal(keyring_find(&kr, 255)->bytes, want, KEY_BYTES);
	unit_key_bytes(want, 1, 0);
	assert_memory_equal(keyring_find(&kr, 1)->bytes, want, KEY_BYTES);
	assert_null(keyring_find(&kr, 2));
	keyring_free(&kr);
}

static void
comments_blank_lines_and_spacing(void **state)
{
	struct keyring	 kr;
	char		 text[1024], err[128];

	(void)state;
	snprintf(text, sizeof text,
	    "# shoal keyring\n"
	    "\n"
	    "   \n"
	    "\t# indented comment\n"
	    "2   %s   \r\n"		/* several spaces, trailing, CRLF */
	    "\r\n"
	    "  1 %s",			/* indented, no final newline */
	    k1, k1);
	assert_int_equal(keyring_parse(&kr, text, err, sizeof err), 0);
	assert_int_equal(kr.n, 2);
	assert_int_equal(keyring_signer(&kr)->id, 2);
	assert_non_null(keyring_find(&kr, 1));
	keyring_free(&kr);
}

static void
bad_ids_are_rejected(void **state)
{
	static const char *const ids[] = {
		"0", "256", "x", "-1", "1x", "+1", "99999999999999999999", "1.0",
		"0x1",
	};
	char		 text[256];
	const char	*err;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		snprintf(text, sizeof text, "%s %s\n", ids[i], k1);
		err = parse_fails(text);
		assert_non_null(strstr(err, "line 1"));
	}
	/* Boundaries that are fine. */
	{
		struct keyring	 kr;
		char		 e[128];

		snprintf(text, sizeof text, "255 %s\n", k1);
		assert_int_equal(keyring_parse(&kr, text, e, sizeof e), 0);
		keyring_free(&kr);
		snprintf(text, sizeof text, "1 %s\n", k1);
		assert_int_equal(keyring_parse(&kr, text, e, sizeof e), 0);
		keyring_free(&kr);
	}
}

static void
line_without_key_is_rejected(void **state)
{
	char	 text[256];

	(void)state;
	parse_fails("1\n");
	parse_fails("1 \n");
	snprintf(text, sizeof text, "%s\n", k1);	/* key alone */
	parse_fails(text);
	snprintf(text, sizeof text, "1\t%s\n", k1);	/* tab, not space */
	parse_fails(text);
}

static void
duplicate_id_is_rejected(void **state)
{
	char		 text[512];
	const char	*err;

	(void)state;
	snprintf(text, sizeof text, "4 %s\n# c\n4 %s\n", k1, k1);
	err = parse_fails(text);
	assert_non_null(strstr(err, "line 3"));
}

static void
bad_base64_is_rejected(void **state)
{
	char	 text[256], key[B64URL_LEN(KEY_BYTES) + 8];

	(void)state;
	/* Standard alphabet. */
	snprintf(key, sizeof key, "%s", k1);
	key[5] = '+';
	snprintf(text, sizeof text, "1 %s\n", key);
	parse_fails(text);
	/* Padded. */
	snprintf(text, sizeof text, "1 %s=\n", k1);
	parse_fails(text);
	/* A stray character. */
	snprintf(key, sizeof key, "%s", k1);
	key[10] = '.';
	snprintf(text, sizeof text, "1 %s\n", key);
	parse_fails(text);
	/* Space inside the key. */
	snprintf(key, sizeof key, "%s", k1);
	key[10] = ' ';
	snprintf(text, sizeof text, "1 %s\n", key);
	parse_fails(text);
	/* Non-canonical last character (32 bytes: 43 chars, 2 spare bits). */
	snprintf(key, sizeof key, "%s", k1);
	key[42] = unit_b64url_other(key[42], 1);
	snprintf(text, sizeof text, "1 %s\n", key);
	parse_fails(text);
}

static void
wrong_key_length_is_rejected(void **state)
{
	unsigned char	 bytes[KEY_BYTES + 8];
	char		 enc[B64URL_LEN(KEY_BYTES + 8) + 1], text[256];
	const char	*err;
	size_t		 n;

	(void)state;
	memset(bytes, 0x5a, sizeof bytes);
	for (n = 0; n <= KEY_BYTES + 8; n++) {
		if (n == KEY_BYTES)
			continue;
		assert_int_equal(b64url_encode(enc, sizeof enc, bytes, n), 0);
		snprintf(text, sizeof text, "1 %s\n", enc);
		err = parse_fails(text);
		assert_non_null(strstr(err, "line 1"));
	}
}

static void
empty_keyring_is_rejected(void **state)
{
	(void)state;
	parse_fails("");
	parse_fails("\n\n");
	parse_fails("# only a comment\n   \n");
}

static void
at_most_keyring_max_keys(void **state)
{
	struct keyring	 kr;
	char		 text[4096] = "", err[128];
	unsigned	 i;

	(void)state;
	for (i = 1; i <= KEYRING_MAX; i++)
		unit_key_line(text, sizeof text, (uint8_t)i, 0);
	assert_int_equal(keyring_parse(&kr, text, err, sizeof err), 0);
	assert_int_equal(kr.n, KEYRING_MAX);
	for (i = 1; i <= KEYRING_MAX; i++)
		assert_non_null(keyring_find(&kr, (uint8_t)i));
	keyring_free(&kr);
	unit_key_line(text, sizeof text, KEYRING_MAX + 1, 0);
	parse_fails(text);
}

static void
error_names_the_line(void **state)
{
	char		 text[512];
	const char	*err;

	(void)state;
	snprintf(text, sizeof text, "# c\n1 %s\n\n2 nokey\n", k1);
	err = parse_fails(text);
	assert_non_null(strstr(err, "line 4"));
}

static void
keyring_line_parses_back(void **state)
{
	struct keyring	 kr;
	char		 line[128], line2[128], text[256], err[128];

	(void)state;
	assert_int_equal(keyring_line(line, sizeof line, 9), 0);
	assert_int_equal(strlen(line), 2 + B64URL_LEN(KEY_BYTES) + 1);
	assert_int_equal(line[strlen(line) - 1], '\n');
	assert_memory_equal(line, "9 ", 2);
	assert_int_equal(keyring_parse(&kr, line, err, sizeof err), 0);
	assert_int_equal(kr.n, 1);
	assert_int_equal(keyring_signer(&kr)->id, 9);
	keyring_free(&kr);
	/* A second line has a different key; both parse together. */
	assert_int_equal(keyring_line(line2, sizeof line2, 200), 0);
	assert_string_not_equal(line + 2, line2 + 4);
	snprintf(text, sizeof text, "%s%s", line2, line);
	assert_int_equal(keyring_parse(&kr, text, err, sizeof err), 0);
	assert_int_equal(kr.n, 2);
	assert_int_equal(keyring_signer(&kr)->id, 200);
	assert_memory_not_equal(kr.keys[0].bytes, kr.keys[1].bytes, KEY_BYTES);
	keyring_free(&kr);
	/* Too small a buffer. */
	assert_int_equal(keyring_line(line, 10, 9), -1);
	assert_int_equal(keyring_line(line, 2 + B64URL_LEN(KEY_BYTES) + 1, 9),
	    -1);
	assert_int_equal(keyring_line(line, 2 + B64URL_LEN(KEY_BYTES) + 2, 9),
	    0);
}

/* Writes content to a new file under /tmp with mode; returns its path. */
static char *
temp_file(const char *content, size_t len, mode_t mode)
{
	static char	 path[64];
	int		 fd;

	snprintf(path, sizeof path, "/tmp/shoal-keyring-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void
load_accepts_0600(void **state)
{
	struct keyring	 kr;
	char		 text[128], err[256];
	const char	*path;

	(void)state;
	snprintf(text, sizeof text, "5 %s\n", k1);
	path = temp_file(text, strlen(text), 0600);
	assert_int_equal(keyring_load(&kr, path, err, sizeof err), 0);
	assert_int_equal(kr.n, 1);
	assert_int_equal(keyring_signer(&kr)->id, 5);
	keyring_free(&kr);
	unlink(path);
}

static void
load_refuses_world_readable_or_writable(void **state)
{
	static const mode_t modes[] = { 0644, 0604, 0602, 0666 };
	struct keyring	 kr;
	char		 text[128], err[256];
	const char	*path;
	size_t		 i;

	(void)state;
	snprintf(text, sizeof text, "5 %s\n", k1);
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		path = temp_file(text, strlen(text), modes[i]);
		err[0] = '\0';
		assert_int_equal(keyring_load(&kr, path, err, sizeof err), -1);
		assert_non_null(strstr(err, path));
		assert_null(strchr(err, '\n'));
		unlink(path);
	}
}

static void
load_refuses_missing_file_naming_it(void **state)
{
	struct keyring	 kr;
	char		 err[256];
	const char	*path = "/tmp/shoal-keyring-does-not-exist";

	(void)state;
	unlink(path);
	err[0] = '\0';
	assert_int_equal(keyring_load(&kr, path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
}

static void
load_refuses_directory_nul_and_oversize(void **state)
{
	struct keyring	 kr;
	char		 text[128], err[256], *big;
	const char	*path;
	size_t		 n;

	(void)state;
	assert_int_equal(keyring_load(&kr, "/tmp", err, sizeof err), -1);
	assert_non_null(strstr(err, "/tmp"));

	/* A NUL byte would hide the rest of the file from the parser. */
	n = (size_t)snprintf(text, sizeof text, "5 %s\n", k1);
	text[n] = '\0';
	memcpy(text + n + 1, "6 x\n", 4);
	path = temp_file(text, n + 5, 0600);
	assert_int_equal(keyring_load(&kr, path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	unlink(path);

	/* Larger than any keyring: comments padding a valid file. */
	big = malloc(9000);
	assert_non_null(big);
	memset(big, '#', 9000);
	n = (size_t)snprintf(big, 9000, "5 %s\n", k1);
	big[n] = '#';
	big[8999] = '\n';
	path = temp_file(big, 9000, 0600);
	assert_int_equal(keyring_load(&kr, path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	unlink(path);
	free(big);
}

static void
load_parse_error_names_path_and_line(void **state)
{
	struct keyring	 kr;
	char		 text[128], err[256];
	const char	*path;

	(void)state;
	snprintf(text, sizeof text, "5 %s\n0 %s\n", k1, k1);
	path = temp_file(text, strlen(text), 0600);
	assert_int_equal(keyring_load(&kr, path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 2"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_key),
		cmocka_unit_test(several_keys_first_signs),
		cmocka_unit_test(comments_blank_lines_and_spacing),
		cmocka_unit_test(bad_ids_are_rejected),
		cmocka_unit_test(line_without_key_is_rejected),
		cmocka_unit_test(duplicate_id_is_rejected),
		cmocka_unit_test(bad_base64_is_rejected),
		cmocka_unit_test(wrong_key_length_is_rejected),
		cmocka_unit_test(empty_keyring_is_rejected),
		cmocka_unit_test(at_most_keyring_max_keys),
		cmocka_unit_test(error_names_the_line),
		cmocka_unit_test(keyring_line_parses_back),
		cmocka_unit_test(load_accepts_0600),
		cmocka_unit_test(load_refuses_world_readable_or_writable),
		cmocka_unit_test(load_refuses_missing_file_naming_it),
		cmocka_unit_test(load_refuses_directory_nul_and_oversize),
		cmocka_unit_test(load_parse_error_names_path_and_line),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("keyring", tests, setup, NULL);
}
