/*
 * home.c - the front page.
 */
#include "app.h"

void
page_home(struct shoal_req *r)
{
	struct shoal_view	*v = shoal_view(r);

	shoal_set(v, "title", "Home");
	shoal_set_int(v, "cart_count", (long long)cart_count(shoal_data(r)));
	shoal_render(r, 200, "home", v);
}
