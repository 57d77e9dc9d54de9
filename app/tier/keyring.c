/*
 * keyring.c - loading and using the signing keys (see keyring.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64url.h"
#include "keyring.h"
#include "oom.h"

#define KEYRING_FILE_MAX	8192

static int
fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* Parses one "ID KEY" line into k; the line has no newline. */
static int
parse_line(struct key *k, const char *line, size_t len, size_t lineno,
    char *err, size_t errsz)
{
	const char	*p = line, *end = line + len, *sp;
	long		 id = 0;

	sp = memchr(p, ' ', len);
	if (sp == NULL || sp == p)
		return fail(err, errsz, "line %zu: expected \"ID KEY\"", lineno);
	for (; p < sp; p++) {
		if (*p < '0' || *p > '9' || id > 255)
			return fail(err, errsz,
			    "line %zu: key id must be a number from 1 to 255",
			    lineno);
		id = id * 10 + (*p - '0');
	}
	if (id < 1 || id > 255)
		return fail(err, errsz,
		    "line %zu: key id must be a number from 1 to 255", lineno);
	while (sp < end && *sp == ' ')
		sp++;
	while (end > sp && (end[-1] == ' ' || end[-1] == '\r'))
		end--;
	if (b64url_decode(k->bytes, sizeof k->bytes, sp,
	    (size_t)(end - sp)) != KEY_BYTES)
		return fail(err, errsz,
		    "line %zu: key must be %d bytes in base64url", lineno,
		    KEY_BYTES);
	k->id = (uint8_t)id;
	crypto_auth_hmacsha512256_init(&k->keyed, k->bytes, sizeof k->bytes);
	return 0;
}

int
keyring_parse(struct keyring *kr, const char *text, char *err, size_t errsz)
{
	const char	*p = text, *nl;
	size_t		 lineno = 0, len, i;
	struct key	*keys;

	kr->n = 0;
	kr->keys = NULL;
	keys = sodium_allocarray(KEYRING_MAX, sizeof *keys);
	if (keys == NULL)
		oom();
	while (*p != '\0') {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		if (len == 0 || *p == '#' || (len == 1 && *p == '\r'))
			goto next;
		if (kr->n == KEYRING_MAX) {
			sodium_free(keys);
			kr->n = 0;
			return fail(err, errsz, "more than %d keys",
			    KEYRING_MAX);
		}
		if (parse_line(&keys[kr->n], p, len, lineno, err, errsz) != 0) {
			sodium_free(keys);
			kr->n = 0;
			return -1;
		}
		for (i = 0; i < kr->n; i++)
			if (keys[i].id == keys[kr->n].id) {
				unsigned id = keys[i].id;

				sodium_free(keys);
				kr->n = 0;
				return fail(err, errsz,
				    "line %zu: key id %u appears twice",
				    lineno, id);
			}
		kr->n++;
next:
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (kr->n == 0) {
		sodium_free(keys);
		return fail(err, errsz, "no key in keyring");
	}
	kr->keys = keys;
	return 0;
}

int
keyring_load(struct keyring *kr, const char *path, char *err, size_t errsz)
{
	struct stat	 st;
	char		*text = NULL;
	char		 sub[200];
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return fail(err, errsz, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		fail(err, errsz, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(err, errsz, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		fail(err, errsz, "%s: readable or writable by others "
		    "(chmod 600 it)", path);
		goto out;
	}
	if (st.st_size > KEYRING_FILE_MAX) {
		fail(err, errsz, "%s: larger than %d bytes", path,
		    KEYRING_FILE_MAX);
		goto out;
	}
	text = sodium_malloc(KEYRING_FILE_MAX + 1);
	if (text == NULL)
		oom();
	while (len < KEYRING_FILE_MAX &&
	    (n = read(fd, text + len, KEYRING_FILE_MAX - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(err, errsz, "%s: %s", path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		fail(err, errsz, "%s: contains a NUL byte", path);
		goto out;
	}
	if (keyring_parse(kr, text, sub, sizeof sub) != 0) {
		fail(err, errsz, "%s: %s", path, sub);
		goto out;
	}
	rc = 0;
out:
	if (text != NULL)
		sodium_free(text);	/* wipes it */
	close(fd);
	return rc;
}

void
keyring_free(struct keyring *kr)
{
	if (kr->keys != NULL)
		sodium_free(kr->keys);
	kr->keys = NULL;
	kr->n = 0;
}

const struct key *
keyring_signer(const struct keyring *kr)
{
	return &kr->keys[0];
}

const struct key *
keyring_find(const struct keyring *kr, uint8_t id)
{
	size_t	 i;

	for (i = 0; i < kr->n; i++)
		if (kr->keys[i].id == id)
			return &kr->keys[i];
	return NULL;
}

int
keyring_line(char *out, size_t outsz, uint8_t id)
{
	unsigned char	 key[KEY_BYTES];
	char		 enc[B64URL_LEN(KEY_BYTES) + 1];
	int		 n;

	crypto_auth_keygen(key);
	if (b64url_encode(enc, sizeof enc, key, sizeof key) != 0)
		return -1;
	n = snprintf(out, outsz, "%u %s\n", id, enc);
	sodium_memzero(key, sizeof key);
	sodium_memzero(enc, sizeof enc);
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}
