/*
 * assets.h - the names of fingerprinted assets. tools/fingerprint writes a
 * manifest of "NAME NAME.HASH.EXT" lines next to the assets; the worker reads
 * it at start (SHOAL_ASSET_MANIFEST) so that templates, which write
 * {{@style.css}}, link the fingerprinted name the CDN may cache forever.
 * Each link is put together once, at start, not on every page.
 */
#ifndef ASSETS_H
#define ASSETS_H

#include <stddef.h>

#define ASSETS_MAX		256
#define ASSET_NAME_MAX		128

/* Returns 0, or -1 with one line in err. An empty path loads nothing.
 * base is the URL prefix the links start with (SHOAL_STATIC_BASE). */
int		 assets_load(const char *path, const char *base, char *err,
		    size_t errsz) __attribute__((warn_unused_result));
/* The URL of an asset's fingerprinted name, or NULL when it is not listed. */
const char	*assets_url(const char *name, size_t len);
void		 assets_free(void);

#endif
