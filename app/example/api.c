/*
 * api.c - the JSON API: the session as JSON, and adding to the cart with
 * the CSRF token in the X-CSRF-Token header.
 */
#include "app.h"

/* {"user":..,"cart":{"item":qty,..},"csrf":..,"expires_in":..} */
static void
send_session(struct shoal_req *r, int status)
{
	const Shop__SessionData	*d = shoal_data(r);
	struct shoal_json	*j = shoal_json_new(r);
	size_t			 i;

	shoal_json_object(j, NULL);
	shoal_json_str(j, "user", shoal_user(r));
	shoal_json_object(j, "cart");
	for (i = 0; i < d->n_cart; i++) {
		/* cart_parse lets in UTF-8 only; a line from before it did
		 * is left out rather than failing the whole answer. */
		if (!shoal_utf8_valid(d->cart[i]->item))
			continue;
		shoal_json_int(j, d->cart[i]->item, d->cart[i]->qty);
	}
	shoal_json_end(j);
	shoal_json_str(j, "csrf", shoal_csrf_token(r));
	shoal_json_int(j, "expires_in", shoal_expires_in(r));
	shoal_json_end(j);
	shoal_json_send(r, status, j);
}

static void
send_error(struct shoal_req *r, int status, const char *why)
{
	struct shoal_json	*j = shoal_json_new(r);

	shoal_json_object(j, NULL);
	shoal_json_str(j, "error", why);
	shoal_json_end(j);
	shoal_json_send(r, status, j);
}

void
api_session(struct shoal_req *r)
{
	send_session(r, 200);
}

void
api_cart_add(struct shoal_req *r)
{
	struct cart_change	 c;
	const char		*bad = cart_parse(r, &c);
	enum shoal_status	 st;

	if (bad != NULL) {
		send_error(r, 400, bad);
		return;
	}
	if ((st = cart_product(r, &c)) != SHOAL_OK) {
		if (st == SHOAL_REJECT)
			send_error(r, 404, "no such product");
		else
			shoal_fail(r, st);
		return;
	}
	switch ((st = shoal_session_change(r, cart_add, &c))) {
	case SHOAL_OK:
		send_session(r, 200);
		break;
	case SHOAL_ANONYMOUS:
		send_error(r, 401, "sign in first");
		break;
	case SHOAL_REJECT:
		send_error(r, 409, "the cart is full");
		break;
	default:
		shoal_fail(r, st);
	}
}
