/*
 * wiring.h - what a page test asks of the app as the tier will see it: the
 * handler a route leads to, a template's text. Static inline, so that each
 * test_*.c builds on its own.
 */
#ifndef WIRING_H
#define WIRING_H

#include <string.h>

#include "../app.h"

/* The handler of the route method path (as written in routes.c), or NULL. */
static inline shoal_handler
route_of(enum shoal_method method, const char *path)
{
	const struct shoal_route	*rt;

	for (rt = app_routes; rt->path != NULL; rt++)
		if (rt->method == method && strcmp(rt->path, path) == 0)
			return rt->handler;
	return NULL;
}

/* The text of the template name (its file name without .html), or NULL. */
static inline const char *
template_of(const char *name)
{
	const struct shoal_template	*t;

	for (t = app_templates; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0)
			return t->text;
	return NULL;
}

#endif
