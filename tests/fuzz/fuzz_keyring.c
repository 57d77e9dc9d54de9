/*
 * fuzz_keyring.c - keyring_parse() on any text (the keyring file, less its
 * permission checks). Properties: an accepted keyring has 1 to KEYRING_MAX
 * keys with distinct ids from 1 to 255, the first signs, each is found by
 * its id, and writing the keys out again parses to the same keyring; a
 * refused one leaves nothing behind and explains itself in one line.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyring	 kr, again;
	char		*text, err[256];
	char		 out[KEYRING_MAX * 64 + 1];
	char		 enc[B64URL_LEN(KEY_BYTES) + 1];
	size_t		 i, j, o = 0;

	data = FUZZ_DATA(data, size);
	fuzz_init();
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 0, sizeof err);
	if (keyring_parse(&kr, text, err, sizeof err) != 0) {
		FUZZ_CHECK(kr.keys == NULL);
		FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
		free(text);
		return 0;
	}
	FUZZ_CHECK(kr.n >= 1 && kr.n <= KEYRING_MAX && kr.keys != NULL);
	FUZZ_CHECK(keyring_signer(&kr) == &kr.keys[0]);
	for (i = 0; i < kr.n; i++) {
		FUZZ_CHECK(kr.keys[i].id != 0);
		FUZZ_CHECK(keyring_find(&kr, kr.keys[i].id) == &kr.keys[i]);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(kr.keys[j].id != kr.keys[i].id);
		FUZZ_CHECK(b64url_encode(enc, sizeof enc, kr.keys[i].bytes,
		    KEY_BYTES) == 0);
		o += (size_t)snprintf(out + o, sizeof out - o, "%u %s\n",
		    kr.keys[i].id, enc);
	}
	FUZZ_CHECK(keyring_parse(&again, out, err, sizeof err) == 0);
	FUZZ_CHECK(again.n == kr.n);
	for (i = 0; i < kr.n; i++) {
		FUZZ_CHECK(again.keys[i].id == kr.keys[i].id);
		FUZZ_CHECK(sodium_memcmp(again.keys[i].bytes, kr.keys[i].bytes,
		    KEY_BYTES) == 0);
	}
	keyring_free(&again);
	keyring_free(&kr);
	sodium_memzero(text, size);
	free(text);
	return 0;
}
