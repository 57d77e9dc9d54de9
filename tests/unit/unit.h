/*
 * unit.h - helpers shared by the unit tests: keyrings built from fixed keys,
 * so a test can sign with one keyring and verify with another, the base64url
 * alphabet for tampering loops, and an environment without SHOAL_* settings.
 * Everything here is static inline (the Makefile builds each test_*.c on its
 * own).
 */
#ifndef UNIT_H
#define UNIT_H

#include <sys/socket.h>

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "b64url.h"
#include "keyring.h"

static const char unit_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A deterministic 32-byte key for id, different for every (id, salt). */
static inline void
unit_key_bytes(unsigned char out[KEY_BYTES], uint8_t id, uint8_t salt)
{
	size_t	 i;

	for (i = 0; i < KEY_BYTES; i++)
		out[i] = (unsigned char)(id * 31 + salt * 7 + i * 13 + 1);
}

/* Appends the line "ID KEY\n" for unit_key_bytes(id, salt) to text. */
static inline void
unit_key_line(char *text, size_t textsz, uint8_t id, uint8_t salt)
{
	unsigned char	 k[KEY_BYTES];
	char		 enc[B64URL_LEN(KEY_BYTES) + 1];
	size_t		 used = strlen(text);

	unit_key_bytes(k, id, salt);
	if (b64url_encode(enc, sizeof enc, k, sizeof k) != 0)
		enc[0] = '\0';
	snprintf(text + used, textsz - used, "%u %s\n", id, enc);
}

/*
 * Fills kr with the keys ids[0..n-1] (salt 0), ids[0] signing. Returns what
 * keyring_parse returns.
 */
static inline int
unit_keyring(struct keyring *kr, const uint8_t *ids, size_t n)
{
	char	 text[2048] = "", err[256];
	size_t	 i;

	for (i = 0; i < n; i++)
		unit_key_line(text, sizeof text, ids[i], 0);
	return keyring_parse(kr, text, err, sizeof err);
}

/*
 * Removes every SHOAL_* variable from the environment, so that config_load
 * gives the defaults whatever the shell that ran the tests had set.
 * Returns 0, or -1 when one could not be removed.
 */
static inline int
unit_clear_env(void)
{
	char	 name[256];
	size_t	 i;

	for (;;) {
		for (i = 0; environ[i] != NULL; i++)
			if (strncmp(environ[i], "SHOAL_", 6) == 0)
				break;
		if (environ[i] == NULL)
			return 0;
		snprintf(name, sizeof name, "%.*s",
		    (int)strcspn(environ[i], "="), environ[i]);
		if (unsetenv(name) != 0)
			return -1;
	}
}

/* The other alphabet character at distance k (1..63) from c. */
static inline char
unit_b64url_other(char c, size_t k)
{
	const char	*p = strchr(unit_b64url_alphabet, c);
	size_t		 at = p ? (size_t)(p - unit_b64url_alphabet) : 0;

	return unit_b64url_alphabet[(at + k) % 64];
}

/*
 * A loopback port below the kernel's ephemeral range that nothing listens
 * on now and refused (when given) does not refuse; -1 when none is found.
 * For the tests that start their own redis-server.
 */
static inline int
unit_free_port(int (*refused)(int))
{
	struct sockaddr_in	 sa;
	FILE			*f;
	int			 low = 32768, high, port, fd, i, ok;

	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) !=
	    NULL) {
		if (fscanf(f, "%d %d", &low, &high) != 2)
			low = 32768;
		fclose(f);
	}
	if (low <= 20000)
		low = 30000;
	for (i = 0; i < 200; i++) {
		port = 20000 + (int)randombytes_uniform((uint32_t)(low - 20000));
		if ((refused != NULL && refused(port)) ||
		    (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			continue;
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
		if (ok)
			return port;
	}
	return -1;
}

#endif
