/*
 * item.c - one line of the cart: GET /cart/items/{item}, its quantity.
 */
#include "app.h"

void
page_cart_item(struct shoal_req *r)
{
	const char	*item = shoal_param(r, "item");
	long		 i;

	if (shoal_user(r) == NULL) {
		shoal_redirect(r, "/login");
		return;
	}
	/* The reason names no item: error pages never echo input. */
	if ((i = cart_find(shoal_data(r), item)) < 0) {
		shoal_error(r, 404, "no such item in the cart");
		return;
	}
	shoal_render(r, 200, "item", (struct shoal_var[]){
	    { "title", item },
	    { "item", item },
	    { "qty", shoal_printf(r, "%u", shoal_data(r)->cart[i]->qty) },
	    { NULL, NULL } });
}
