/*
 * cart.c - the shopping cart: pages, and the changes to the session record
 * they describe. The tier applies a change with compare-and-set and, when
 * another request wrote first, applies it again to the fresh record, so
 * cart_add() and cart_remove() look only at the record and their argument.
 */
#include <stdlib.h>
#include <string.h>

#include "app.h"

long
cart_find(const Shoal__AppData *d, const char *item)
{
	size_t	 i;

	for (i = 0; i < d->n_cart; i++)
		if (strcmp(d->cart[i]->item, item) == 0)
			return (long)i;
	return -1;
}

unsigned long
cart_count(const Shoal__AppData *d)
{
	unsigned long	 n = 0;
	size_t		 i;

	for (i = 0; i < d->n_cart; i++)
		n += d->cart[i]->qty;
	return n;
}

enum shoal_change_result
cart_add(struct shoal_req *r, Shoal__AppData *d, void *arg)
{
	const struct cart_change *c = arg;
	Shoal__CartLine		**lines, *line;
	long			 i = cart_find(d, c->item);

	if (i >= 0) {
		line = d->cart[i];
		if (line->qty + c->qty > CART_MAX_QTY)
			return SHOAL_REJECTED;
		line->qty += c->qty;
		return SHOAL_CHANGED;
	}
	if (d->n_cart >= CART_MAX_LINES)
		return SHOAL_REJECTED;
	line = shoal_alloc(r, sizeof *line);
	shoal__cart_line__init(line);
	line->item = shoal_strdup(r, c->item);
	line->qty = c->qty;
	lines = shoal_alloc(r, (d->n_cart + 1) * sizeof *lines);
	if (d->n_cart > 0)
		memcpy(lines, d->cart, d->n_cart * sizeof *lines);
	lines[d->n_cart++] = line;
	d->cart = lines;
	return SHOAL_CHANGED;
}

enum shoal_change_result
cart_remove(struct shoal_req *r, Shoal__AppData *d, void *arg)
{
	const struct cart_change *c = arg;
	long			 i = cart_find(d, c->item);

	(void)r;
	if (i < 0)
		return SHOAL_UNCHANGED;
	memmove(&d->cart[i], &d->cart[i + 1],
	    (d->n_cart - (size_t)i - 1) * sizeof *d->cart);
	d->n_cart--;
	return SHOAL_CHANGED;
}

/* Item: 1-64 bytes, no control characters. Quantity: 1-999, default 1. */
const char *
cart_parse(struct shoal_req *r, struct cart_change *c)
{
	const char	*item = shoal_form(r, "item");
	const char	*qty = shoal_form(r, "qty");
	const char	*p;
	char		*end;
	long		 n = 1;

	if (item == NULL || item[0] == '\0' || strlen(item) > CART_ITEM_MAX)
		return "item must be 1 to 64 bytes";
	for (p = item; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "item must not contain control characters";
	if (qty != NULL && qty[0] != '\0') {
		n = strtol(qty, &end, 10);
		if (*end != '\0' || n < 1 || n > CART_MAX_QTY)
			return "qty must be 1 to 999";
	}
	c->item = item;
	c->qty = (unsigned)n;
	return NULL;
}

static void
change_and_redirect(struct shoal_req *r, shoal_change_fn fn)
{
	struct cart_change	 c;
	const char		*bad = cart_parse(r, &c);
	enum shoal_status	 st;

	if (bad != NULL && fn == cart_add) {
		shoal_error(r, 400, bad);
		return;
	}
	if (bad != NULL && shoal_form(r, "item") == NULL) {
		shoal_error(r, 400, "item is required");
		return;
	}
	c.item = shoal_form(r, "item");
	st = shoal_session_change(r, fn, &c);
	if (st == SHOAL_OK)
		shoal_redirect(r, "/cart");
	else if (st == SHOAL_ANONYMOUS)
		shoal_redirect(r, "/login");
	else if (st == SHOAL_REJECT)
		shoal_error(r, 409, "the cart is full");
	else
		shoal_fail(r, st);
}

void
page_cart_add(struct shoal_req *r)
{
	change_and_redirect(r, cart_add);
}

void
page_cart_remove(struct shoal_req *r)
{
	change_and_redirect(r, cart_remove);
}

void
page_cart(struct shoal_req *r)
{
	const Shoal__AppData	*d = shoal_data(r);
	char			*rows = "";
	size_t			 i;

	if (shoal_user(r) == NULL) {
		shoal_redirect(r, "/login");
		return;
	}
	for (i = 0; i < d->n_cart; i++)
		rows = shoal_printf(r, "%s%s", rows,
		    shoal_render_fragment(r, "cart_line", (struct shoal_var[]){
		    { "item", d->cart[i]->item },
		    { "qty", shoal_printf(r, "%u", d->cart[i]->qty) },
		    { NULL, NULL } }));
	shoal_render(r, 200, "cart", (struct shoal_var[]){
	    { "title", "Cart" },
	    { "lines", rows },
	    { NULL, NULL } });
}
