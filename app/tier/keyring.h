/*
 * keyring.h - the keys that sign session IDs and CSRF tokens.
 *
 * A keyring file holds one key per line: "ID KEY", ID a number from 1 to 255
 * and KEY 32 bytes in base64url; '#' starts a comment. The first key signs,
 * every key verifies, so a key is rotated by adding a new one in front and
 * dropping the old one once no cookie it signed can still be alive. The file
 * must not be readable by others. Key material is kept in memory locked
 * against swapping and wiped when the keyring is freed.
 */
#ifndef KEYRING_H
#define KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define KEYRING_MAX	16
#define KEY_BYTES	crypto_auth_KEYBYTES

struct key {
	uint8_t		id;
	unsigned char	bytes[KEY_BYTES];
	/* HMAC state with the key already absorbed: a MAC starts from a copy
	 * of it, which saves the two hash blocks of the key pads on every
	 * request (half the cost of verifying a cookie). */
	crypto_auth_hmacsha512256_state keyed;
};

struct keyring {
	size_t		 n;
	struct key	*keys;		/* sodium_malloc'd; keys[0] signs */
};

/* Returns 0, or -1 with one line in err (file name and line number). */
int	keyring_load(struct keyring *, const char *path, char *err, size_t errsz)
	    __attribute__((warn_unused_result));
/* Parses text already read; does not check file permissions. */
int	keyring_parse(struct keyring *, const char *text, char *err,
	    size_t errsz) __attribute__((warn_unused_result));
void	keyring_free(struct keyring *);
const struct key *keyring_signer(const struct keyring *);
const struct key *keyring_find(const struct keyring *, uint8_t id);
/* Writes a new keyring line ("ID KEY\n") with a fresh random key. */
int	keyring_line(char *out, size_t outsz, uint8_t id)
	    __attribute__((warn_unused_result));

#endif
