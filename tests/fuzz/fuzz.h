/*
 * fuzz.h - what the fuzz targets share: a check that aborts (so libFuzzer
 * and the plain driver both report it with the input that caused it), a
 * one-time setup of libsodium and of a fixed keyring, and the target's
 * prototype. Included by exactly one target per binary.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"
#include "keyring.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A broken property: print where and abort, so the input is kept. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/*
 * libFuzzer may pass NULL for an empty input; the library's functions take
 * (pointer, length) and may hand the pointer to memcpy, where NULL is
 * undefined even for length 0. Real callers always pass a buffer.
 */
#define FUZZ_DATA(data, size) \
	((size) == 0 || (data) == NULL ? (const uint8_t *)"" : (data))

static const char fuzz_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Keys 1 and 2 with fixed bytes, 1 signing: the same keyring in every run,
 * so a crash input replays the same way.
 */
static inline const struct keyring *
fuzz_keyring(void)
{
	static struct keyring	 kr;
	static int		 ready;
	unsigned char		 k[KEY_BYTES];
	char			 enc[B64URL_LEN(KEY_BYTES) + 1];
	char			 text[256], err[256];
	size_t			 i;
	int			 id, n = 0;

	if (ready)
		return &kr;
	if (sodium_init() < 0)
		abort();
	text[0] = '\0';
	for (id = 1; id <= 2; id++) {
		for (i = 0; i < KEY_BYTES; i++)
			k[i] = (unsigned char)(id * 0x11 + i);
		if (b64url_encode(enc, sizeof enc, k, sizeof k) != 0)
			abort();
		n += snprintf(text + n, sizeof text - (size_t)n, "%d %s\n", id,
		    enc);
	}
	if (keyring_parse(&kr, text, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz keyring: %s\n", err);
		abort();
	}
	ready = 1;
	return &kr;
}

static inline void
fuzz_init(void)
{
	static int	 ready;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = 1;
	}
}

#endif
