/*
 * item.c - one line of the cart: GET /cart/items/{item}, its quantity.
 */
#include "app.h"

void
page_cart_item(struct shoal_req *r)
{
	const Shop__SessionData	*d = shoal_data(r);
	const char		*item = shoal_param(r, "item");
	struct shoal_view	*v;
	long			 i;

	/* Guests have a cart too; a visitor without a session an empty one.
	 * The reason names no item: error pages never echo input. */
	if ((i = cart_find(d, item)) < 0) {
		shoal_error(r, 404, "no such item in the cart");
		return;
	}
	v = shoal_view(r);
	shoal_set(v, "title", item);
	shoal_set(v, "item", item);
	shoal_set_int(v, "qty", d->cart[i]->qty);
	shoal_render(r, 200, "item", v);
}
