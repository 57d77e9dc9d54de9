/*
 * cart.c - the shopping cart: pages, and the changes to the session record
 * they describe. Guests have a cart too: the first item a visitor adds
 * starts a guest session, and signing in takes the cart along
 * (cart_merge). The tier applies a change with compare-and-set and, when
 * another request wrote first, applies it again to the fresh record, so
 * cart_add() and cart_remove() look only at the record and their argument.
 */
#include <stdlib.h>
#include <string.h>

#include "app.h"

long
cart_find(const Shop__SessionData *d, const char *item)
{
	size_t	 i;

	for (i = 0; i < d->n_cart; i++)
		if (strcmp(d->cart[i]->item, item) == 0)
			return (long)i;
	return -1;
}

long
cart_find_product(const Shop__SessionData *d, int64_t id)
{
	size_t	 i;

	for (i = 0; i < d->n_cart; i++)
		if (d->cart[i]->product_id == id)
			return (long)i;
	return -1;
}

/* A catalogue line by its product, any other by its text. */
static long
find_line(const Shop__SessionData *d, const char *item, int64_t product_id)
{
	return product_id > 0 ? cart_find_product(d, product_id) :
	    cart_find(d, item);
}

int
cart_has_products(const Shop__SessionData *d)
{
	size_t	 i;

	for (i = 0; i < d->n_cart; i++)
		if (d->cart[i]->product_id > 0)
			return 1;
	return 0;
}

unsigned long
cart_count(const Shop__SessionData *d)
{
	unsigned long	 n = 0;
	size_t		 i;

	for (i = 0; i < d->n_cart; i++)
		n += d->cart[i]->qty;
	return n;
}

/* Appends a line for item; the caller checked there is room. */
static void
append_line(struct shoal_req *r, Shop__SessionData *d, const char *item,
    unsigned qty, int64_t product_id)
{
	Shop__CartLine		**lines, *line;

	line = shoal_alloc(r, sizeof *line);
	shop__cart_line__init(line);
	line->item = shoal_strdup(r, item);
	line->qty = qty;
	line->product_id = product_id;
	lines = shoal_alloc(r, (d->n_cart + 1) * sizeof *lines);
	if (d->n_cart > 0)
		memcpy(lines, d->cart, d->n_cart * sizeof *lines);
	lines[d->n_cart++] = line;
	d->cart = lines;
}

enum shoal_change_result
cart_add(struct shoal_req *r, void *data, void *arg)
{
	Shop__SessionData	*d = data;
	const struct cart_change *c = arg;
	Shop__CartLine		*line;
	long			 i = find_line(d, c->item, c->product_id);

	if (i >= 0) {
		line = d->cart[i];
		if (line->qty + c->qty > CART_MAX_QTY)
			return SHOAL_REJECTED;
		line->qty += c->qty;
		return SHOAL_CHANGED;
	}
	if (d->n_cart >= CART_MAX_LINES)
		return SHOAL_REJECTED;
	append_line(r, d, c->item, c->qty, c->product_id);
	return SHOAL_CHANGED;
}

enum shoal_change_result
cart_remove(struct shoal_req *r, void *data, void *arg)
{
	Shop__SessionData	*d = data;
	const struct cart_change *c = arg;
	long			 i = find_line(d, c->item, c->product_id);

	(void)r;
	if (i < 0)
		return SHOAL_UNCHANGED;
	memmove(&d->cart[i], &d->cart[i + 1],
	    (d->n_cart - (size_t)i - 1) * sizeof *d->cart);
	d->n_cart--;
	return SHOAL_CHANGED;
}

/*
 * A guest's cart joins the cart of the session a sign-in starts: each of
 * its lines added, within the cart's limits (what does not fit is left
 * out rather than failing the sign-in).
 */
void
cart_merge(struct shoal_req *r, void *into, const void *guest)
{
	Shop__SessionData	*d = into;
	const Shop__SessionData	*g = guest;
	size_t			 k;
	long			 i;
	unsigned		 qty;

	for (k = 0; k < g->n_cart; k++) {
		if (g->cart[k]->item == NULL || g->cart[k]->item[0] == '\0' ||
		    g->cart[k]->qty == 0)
			continue;
		qty = g->cart[k]->qty > CART_MAX_QTY ? CART_MAX_QTY :
		    g->cart[k]->qty;
		if ((i = find_line(d, g->cart[k]->item,
		    g->cart[k]->product_id)) >= 0) {
			d->cart[i]->qty = d->cart[i]->qty + qty > CART_MAX_QTY ?
			    CART_MAX_QTY : d->cart[i]->qty + qty;
		} else if (d->n_cart < CART_MAX_LINES)
			append_line(r, d, g->cart[k]->item, qty,
			    g->cart[k]->product_id);
	}
}

/*
 * Item: 1-64 bytes of UTF-8 (the JSON API sends it as a string), no control
 * characters. Quantity: 1-999, default 1.
 */
const char *
cart_parse(struct shoal_req *r, struct cart_change *c)
{
	const char	*item = shoal_form(r, "item");
	const char	*qty = shoal_form(r, "qty");
	const char	*product = shoal_form(r, "product");
	const char	*p;
	char		*end;
	long		 n = 1;

	c->product_id = 0;
	if (product != NULL) {
		/* A catalogue product: its name comes from the catalogue
		 * (cart_product). */
		c->product_id = shop_parse_id(product);
		if (c->product_id < 1 || c->product_id > PRODUCT_ID_MAX)
			return "product must be a product number";
		item = "-";
	}
	if (item == NULL || item[0] == '\0' || strlen(item) > CART_ITEM_MAX)
		return "item must be 1 to 64 bytes";
	if (!shoal_utf8_valid(item))
		return "item must be UTF-8 text";
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

/*
 * A product line is checked against the catalogue, whose name it shows:
 * SHOAL_OK, SHOAL_REJECT when there is no such product, or why the
 * catalogue could not say.
 */
enum shoal_status
cart_product(struct shoal_req *r, struct cart_change *c)
{
	struct shoal_rows	*p;
	enum shoal_status	 st;

	if (c->product_id == 0)
		return SHOAL_OK;
	if ((p = shop_product(r, c->product_id, &st)) == NULL)
		return st == SHOAL_OK ? SHOAL_REJECT : st;
	c->item = shoal_row_str(p, 0, 1);
	return SHOAL_OK;
}

static void
change_and_redirect(struct shoal_req *r, shoal_change_fn fn)
{
	struct cart_change	 c;
	const char		*bad = cart_parse(r, &c);
	enum shoal_status	 st;

	if (bad != NULL && (fn == cart_add || c.product_id != 0 ||
	    shoal_form(r, "product") != NULL)) {
		shoal_error(r, 400, bad);
		return;
	}
	if (bad != NULL && shoal_form(r, "item") == NULL) {
		shoal_error(r, 400, "item is required");
		return;
	}
	if (c.product_id == 0)
		c.item = shoal_form(r, "item");
	if (fn == cart_add && (st = cart_product(r, &c)) != SHOAL_OK) {
		if (st == SHOAL_REJECT)
			shoal_error(r, 404, "no such product");
		else
			shoal_fail(r, st);
		return;
	}
	st = shoal_session_change(r, fn, &c);
	if (st == SHOAL_OK) {
		if (fn == cart_add)
			shoal_flash(r, SHOAL_FLASH_SUCCESS, shoal_printf(r,
			    "Added %u of %s to the cart.", c.qty, c.item));
		shoal_redirect(r, "/cart");
	} else if (st == SHOAL_ANONYMOUS)
		shoal_redirect(r, "/cart");
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
	const Shop__SessionData	*d = shoal_data(r);
	struct shoal_view	*v = shoal_view(r), *line;
	size_t			 i;

	shoal_set(v, "title", "Cart");
	/* The table around the lines shows only when there are some. */
	shoal_set(v, "has_lines", d->n_cart > 0 ? "1" : NULL);
	shoal_set(v, "can_checkout", cart_has_products(d) ? "1" : NULL);
	for (i = 0; i < d->n_cart; i++) {
		line = shoal_add(v, "lines");
		shoal_set(line, "item", d->cart[i]->item);
		shoal_set_int(line, "qty", d->cart[i]->qty);
		if (d->cart[i]->product_id > 0)
			shoal_set_int(line, "product", d->cart[i]->product_id);
		else
			shoal_set(line, "free", "1");
	}
	shoal_render(r, 200, "cart", v);
}
