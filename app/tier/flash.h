/*
 * flash.h - one-time messages across a redirect (shoal_flash in shoal.h).
 *
 * The message travels in a cookie of its own, so a visitor without a
 * session pays no Redis command for it, and the next page pays none either.
 * The cookie value is base64url(key id || level || expiry || text || MAC),
 * MAC = HMAC-SHA-512/256 under the keyring's key of "shoal-flash" and the
 * rest: nobody else can put words on our pages, not even a sibling domain
 * that can set cookies for ours. It lives a minute (the expiry, 4 bytes of
 * unix seconds, bounds a replayed copy too), and is cleared when shown.
 */
#ifndef FLASH_H
#define FLASH_H

#include "shoal.h"

#define FLASH_TEXT_MAX		200	/* bytes of text kept */
#define FLASH_MAX_AGE		60	/* seconds the cookie lives */

/* The message for this page from the request's cookie, or NULL; marks the
 * cookie to be cleared. *level is "info", "success" or "error". */
const char	*flash_take(struct shoal_req *, const char **level);
/* The cookie value for a message (a NUL-terminated string in the arena),
 * or NULL when it cannot be made. */
char		*flash_encode(struct shoal_req *, enum shoal_flash_level,
		    const char *text);

#endif
