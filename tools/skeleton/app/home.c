/*
 * home.c - the front page: a greeting, and a form that keeps the visitor's
 * name in the session. The first change a visitor makes starts a guest
 * session; the tier applies a change with compare-and-set and may apply
 * it again to a fresh record, so name_set() looks only at its arguments.
 */
#include <string.h>

#include "app.h"

const char *
name_check(const char *name)
{
	const char	*p;

	if (name == NULL || name[0] == '\0')
		return "a name is required";
	if (strlen(name) > VISITOR_NAME_MAX)
		return "a name is at most 64 bytes";
	if (!shoal_utf8_valid(name))
		return "a name must be UTF-8 text";
	for (p = name; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "a name must not contain control characters";
	return NULL;
}

enum shoal_change_result
name_set(struct shoal_req *r, void *data, void *arg)
{
	@TYPE@__SessionData	*d = data;
	char			*name = arg;

	(void)r;
	if (d->name != NULL && strcmp(d->name, name) == 0)
		return SHOAL_UNCHANGED;
	d->name = name;
	return SHOAL_CHANGED;
}

void
page_home(struct shoal_req *r)
{
	const @TYPE@__SessionData *d = shoal_data(r);
	struct shoal_view	*v = shoal_view(r);

	shoal_set(v, "title", "Home");
	shoal_set(v, "name", d->name != NULL && d->name[0] != '\0' ?
	    d->name : NULL);
	shoal_render(r, 200, "home", v);
}

void
page_name_post(struct shoal_req *r)
{
	const char		*name = shoal_form(r, "name");
	const char		*bad = name_check(name);
	enum shoal_status	 st;

	/* The reason names no input: error pages never echo it. */
	if (bad != NULL) {
		shoal_error(r, 400, bad);
		return;
	}
	st = shoal_session_change(r, name_set, shoal_strdup(r, name));
	if (st != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	shoal_flash(r, SHOAL_FLASH_SUCCESS, "Saved.");
	shoal_redirect(r, "/");
}
