/*
 * item.c - one line of the cart: GET /cart/items/{item}, its quantity.
 */
#include "app.h"

void
page_cart_item(struct shoal_req *r)
{
	const char	*item = shoal_param(r, "item");
	long		 i;

	/* Guests have a cart too; a visitor without a session an empty one.
	 * The reason names no item: error pages never echo input. */
	if ((i = cart_find(shoal_data(r), item)) < 0) {
		shoal_error(r, 404, "no such item in the cart");
		return;
	}
	shoal_render(r, 200, "item", (struct shoal_var[]){
	    { "title", item },
	    { "item", item },
	    { "qty", shoal_printf(r, "%u",
	      ((const Shop__SessionData *)shoal_data(r))->cart[i]->qty) },
	    { NULL, NULL } });
}
