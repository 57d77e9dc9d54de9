/*
 * flash.c - one-time messages in a signed cookie (see flash.h).
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "arena.h"
#include "b64url.h"
#include "config.h"
#include "flash.h"
#include "http.h"
#include "keyring.h"
#include "log.h"
#include "request.h"

/* key id, level, expiry (4 bytes, unix seconds), text, MAC */
#define FLASH_HEAD	6
#define FLASH_RAW_MAX	(FLASH_HEAD + FLASH_TEXT_MAX + crypto_auth_BYTES)
#define FLASH_VALUE_MAX	B64URL_LEN(FLASH_RAW_MAX)

static const char flash_label[] = "shoal-flash";
static const char *const level_names[] = { "info", "success", "error" };

static void
flash_mac(unsigned char mac[crypto_auth_BYTES], const struct key *k,
    const unsigned char *msg, size_t len)
{
	crypto_auth_hmacsha512256_state	 st = k->keyed;

	crypto_auth_hmacsha512256_update(&st,
	    (const unsigned char *)flash_label, sizeof flash_label);
	crypto_auth_hmacsha512256_update(&st, msg, len);
	crypto_auth_hmacsha512256_final(&st, mac);
	sodium_memzero(&st, sizeof st);
}

/* How much of text is kept: at most FLASH_TEXT_MAX bytes, cut before a
 * control byte and never inside a UTF-8 sequence. */
static size_t
kept_length(const char *text)
{
	size_t	 n = 0;

	while (n < FLASH_TEXT_MAX && text[n] != '\0' &&
	    ((unsigned char)text[n] >= 0x20 && text[n] != 0x7f))
		n++;
	if (n == FLASH_TEXT_MAX)
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	return n;
}

char *
flash_encode(struct shoal_req *r, enum shoal_flash_level level,
    const char *text)
{
	const struct key	*k = keyring_signer(r->t->keys);
	unsigned char		 raw[FLASH_RAW_MAX];
	char			 out[FLASH_VALUE_MAX + 1];
	size_t			 n = kept_length(text);

	if ((unsigned)level >= sizeof level_names / sizeof level_names[0])
		return NULL;
	uint32_t		 expires = (uint32_t)time(NULL) + FLASH_MAX_AGE;

	raw[0] = k->id;
	raw[1] = (unsigned char)level;
	raw[2] = (unsigned char)(expires >> 24);
	raw[3] = (unsigned char)(expires >> 16);
	raw[4] = (unsigned char)(expires >> 8);
	raw[5] = (unsigned char)expires;
	memcpy(raw + FLASH_HEAD, text, n);
	flash_mac(raw + FLASH_HEAD + n, k, raw, FLASH_HEAD + n);
	if (b64url_encode(out, sizeof out, raw,
	    FLASH_HEAD + n + crypto_auth_BYTES) != 0)
		return NULL;
	return arena_strdup(&r->t->arena, out);
}

void
shoal_flash(struct shoal_req *r, enum shoal_flash_level level,
    const char *text)
{
	char	*v;

	if (text == NULL || (v = flash_encode(r, level, text)) == NULL) {
		log_event("error", "shoal_flash: no message for level %d",
		    (int)level);
		return;
	}
	r->flash_out = v;
}

const char *
flash_take(struct shoal_req *r, const char **level)
{
	unsigned char		 raw[FLASH_RAW_MAX], mac[crypto_auth_BYTES];
	const struct key	*k;
	const char		*v;
	size_t			 vlen, n;
	long			 len;
	uint32_t		 expires;

	if (r->in.cookie == NULL ||
	    !http_cookie_get(r->in.cookie, strlen(r->in.cookie),
	    r->t->cfg->flash_cookie, &v, &vlen))
		return NULL;
	/* Shown or not, it is not shown again. */
	r->flash_read = 1;
	if (vlen > FLASH_VALUE_MAX ||
	    (len = b64url_decode(raw, sizeof raw, v, vlen)) < 0 ||
	    (size_t)len < FLASH_HEAD + crypto_auth_BYTES ||
	    (k = keyring_find(r->t->keys, raw[0])) == NULL ||
	    raw[1] >= sizeof level_names / sizeof level_names[0])
		return NULL;
	n = (size_t)len - FLASH_HEAD - crypto_auth_BYTES;
	flash_mac(mac, k, raw, FLASH_HEAD + n);
	if (sodium_memcmp(mac, raw + FLASH_HEAD + n, sizeof mac) != 0)
		return NULL;
	/* A value kept past its minute (a copy replayed) is not shown. */
	expires = (uint32_t)raw[2] << 24 | (uint32_t)raw[3] << 16 |
	    (uint32_t)raw[4] << 8 | raw[5];
	if ((int64_t)expires < (int64_t)time(NULL))
		return NULL;
	*level = level_names[raw[1]];
	return arena_strndup(&r->t->arena, (const char *)raw + FLASH_HEAD, n);
}
