/*
 * @PAGE@.c - the page GET /@PAGE@.
 */
#include "app.h"

void
page_@PAGE@(struct shoal_req *r)
{
	struct shoal_view	*v = shoal_view(r);

	shoal_set(v, "title", "@TITLE@");
	shoal_render(r, 200, "@PAGE@", v);
}
