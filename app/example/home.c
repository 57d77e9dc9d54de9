/*
 * home.c - the front page.
 */
#include "app.h"

void
page_home(struct shoal_req *r)
{
	const char	*count = shoal_printf(r, "%lu",
	    cart_count(shoal_data(r)));

	shoal_render(r, 200, "home", (struct shoal_var[]){
	    { "title", "Home" },
	    { "cart_count", count },
	    { NULL, NULL } });
}
