/*
 * view.h - the data a template renders: shoal.h's struct shoal_view. A view
 * binds names to text, to trusted HTML or to a list of item views, each
 * item a view of its own. Views live in a request's arena; the tier reads
 * them through view_get() and view_next() when it renders (template.c).
 */
#ifndef VIEW_H
#define VIEW_H

#include <stddef.h>

struct arena;
struct shoal_view;

enum view_kind {
	VIEW_UNSET = 0,
	VIEW_TEXT,		/* shoal_set, shoal_set_int: escaped */
	VIEW_HTML,		/* shoal_set_html: raw under {{&name}} */
	VIEW_LIST,		/* shoal_add */
};

struct view_value {
	enum view_kind		 kind;
	const char		*text;	/* TEXT, HTML; never NULL */
	const struct shoal_view	*items;	/* LIST: the first item */
};

/* A new, empty view in a; it lives as long as what a holds. */
struct shoal_view *view_new(struct arena *a);
/*
 * What v itself binds to the name of len bytes (not its enclosing views:
 * the template keeps that stack). Returns the kind; out is filled when the
 * name is bound.
 */
enum view_kind	 view_get(const struct shoal_view *v, const char *name,
		    size_t len, struct view_value *out);
/* The item after this one in its list, or NULL. */
const struct shoal_view *view_next(const struct shoal_view *item);

#endif
