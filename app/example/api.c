/*
 * api.c - the JSON API: the session as JSON, and adding to the cart with
 * the CSRF token in the X-CSRF-Token header.
 */
#include "app.h"

char *
session_json(struct shoal_req *r)
{
	const Shop__SessionData	*d = shoal_data(r);
	const char		*user = shoal_user(r);
	char			*cart = "";
	size_t			 i;

	for (i = 0; i < d->n_cart; i++)
		cart = shoal_printf(r, "%s%s%s:%u", cart, i ? "," : "",
		    shoal_json_string(r, d->cart[i]->item), d->cart[i]->qty);
	return shoal_printf(r, "{\"user\":%s,\"cart\":{%s},\"csrf\":%s,"
	    "\"expires_in\":%lld}",
	    user ? shoal_json_string(r, user) : "null", cart,
	    shoal_json_string(r, shoal_csrf_token(r)),
	    (long long)shoal_expires_in(r));
}

void
api_session(struct shoal_req *r)
{
	shoal_json(r, 200, session_json(r));
}

void
api_cart_add(struct shoal_req *r)
{
	struct cart_change	 c;
	const char		*bad = cart_parse(r, &c);
	enum shoal_status	 st;

	if (bad != NULL) {
		shoal_json(r, 400, shoal_printf(r, "{\"error\":%s}",
		    shoal_json_string(r, bad)));
		return;
	}
	switch ((st = shoal_session_change(r, cart_add, &c))) {
	case SHOAL_OK:
		shoal_json(r, 200, session_json(r));
		break;
	case SHOAL_ANONYMOUS:
		shoal_json(r, 401, "{\"error\":\"sign in first\"}");
		break;
	case SHOAL_REJECT:
		shoal_json(r, 409, "{\"error\":\"the cart is full\"}");
		break;
	default:
		shoal_fail(r, st);
	}
}
