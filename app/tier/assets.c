/*
 * assets.c - the asset manifest (see assets.h). Read once at start, before
 * any thread runs, and only read afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "oom.h"

struct asset {
	char	*name;
	char	*url;	/* base "/" fingerprinted name */
};

static struct asset	assets[ASSETS_MAX];
static size_t		nassets;

static int
safe_name(const char *s)
{
	size_t	 n = strlen(s);

	return n > 0 && n <= ASSET_NAME_MAX && s[0] != '.' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int
assets_load(const char *path, const char *base, char *err, size_t errsz)
{
	FILE	*f;
	char	 line[2 * ASSET_NAME_MAX + 8], name[ASSET_NAME_MAX + 2];
	char	 fp[ASSET_NAME_MAX + 2], extra;
	size_t	 lineno = 0;
	int	 rc = -1;

	if (path == NULL || path[0] == '\0')
		return 0;
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errsz, "%s: cannot open", path);
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errsz, "%s:%zu: line too long", path,
			    lineno);
			goto out;
		}
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (sscanf(line, "%129s %129s %c", name, fp, &extra) != 2 ||
		    !safe_name(name) || !safe_name(fp)) {
			snprintf(err, errsz, "%s:%zu: expected \"NAME "
			    "FINGERPRINTED-NAME\"", path, lineno);
			goto out;
		}
		if (nassets == ASSETS_MAX) {
			snprintf(err, errsz, "%s: more than %d assets", path,
			    ASSETS_MAX);
			goto out;
		}
		assets[nassets].name = xstrdup(name);
		assets[nassets].url = xmalloc(strlen(base) + 1 + strlen(fp) + 1);
		sprintf(assets[nassets].url, "%s/%s", base, fp);
		nassets++;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

const char *
assets_url(const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < nassets; i++)
		if (strlen(assets[i].name) == len &&
		    memcmp(assets[i].name, name, len) == 0)
			return assets[i].url;
	return NULL;
}

void
assets_free(void)
{
	while (nassets > 0) {
		nassets--;
		free(assets[nassets].name);
		free(assets[nassets].url);
	}
}
