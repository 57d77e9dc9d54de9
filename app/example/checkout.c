/*
 * checkout.c - POST /cart/checkout: the cart's catalogue lines become an
 * order in one transaction, once per cart.
 *
 * The first submit keeps an idempotency key in the session data; a
 * retried or doubled submit finds the same key there, and the orders
 * table's unique key on it makes its INSERT insert nothing: it answers
 * with the order the first one made. Once the order is committed the
 * cart's catalogue lines and the key are cleared, in one change that
 * applies only while the key is still the order's.
 */
#include <string.h>

#include <sodium.h>

#include "app.h"

/* Keeps arg as the cart's checkout key unless it has one already. */
static enum shoal_change_result
keep_key(struct shoal_req *r, void *data, void *arg)
{
	Shop__SessionData	*d = data;

	(void)r;
	if (d->checkout_key[0] != '\0' || !cart_has_products(d))
		return SHOAL_UNCHANGED;
	d->checkout_key = arg;
	return SHOAL_CHANGED;
}

/* The order for key arg was placed: its lines leave the cart. */
static enum shoal_change_result
ordered(struct shoal_req *r, void *data, void *arg)
{
	Shop__SessionData	*d = data;
	size_t			 i, k = 0;

	(void)r;
	if (strcmp(d->checkout_key, arg) != 0)
		return SHOAL_UNCHANGED;
	for (i = 0; i < d->n_cart; i++)
		if (d->cart[i]->product_id == 0)
			d->cart[k++] = d->cart[i];
	d->n_cart = k;
	d->checkout_key = "";
	return SHOAL_CHANGED;
}

static char *
fresh_key(struct shoal_req *r)
{
	unsigned char	 raw[16];
	char		*hex = shoal_alloc(r, sizeof raw * 2 + 1);

	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(hex, sizeof raw * 2 + 1, raw, sizeof raw);
	return hex;
}

/* "{1,2,3}": a PostgreSQL array of the cart's numbers, as one parameter. */
static const char *
array(struct shoal_req *r, const Shop__SessionData *d, int what,
    const int64_t *price)
{
	const char	*s = "{";
	size_t		 i, n = 0;
	long long	 v;

	for (i = 0; i < d->n_cart; i++) {
		if (d->cart[i]->product_id == 0)
			continue;
		v = what == 0 ? d->cart[i]->product_id : what == 1 ?
		    (long long)d->cart[i]->qty : price[i];
		s = shoal_printf(r, "%s%s%lld", s, n++ ? "," : "", v);
	}
	return shoal_printf(r, "%s}", s);
}

/*
 * Places the order in one transaction: 1 with *order set (new or found by
 * key), 0 with *why when the cart cannot become an order, -1 with *st.
 */
static int
place(struct shoal_req *r, const Shop__SessionData *d, int64_t account,
    int64_t *order, const char **why, enum shoal_status *st)
{
	struct shoal_tx		*tx;
	struct shoal_rows	*rows;
	const char		*p[4];
	int64_t			*price, total = 0;
	size_t			 i;
	int			 k;

	price = shoal_alloc(r, (d->n_cart + 1) * sizeof *price);
	if ((*st = shoal_tx_begin(r, &tx)) != SHOAL_OK)
		return -1;
	p[0] = shoal_printf(r, "%lld", (long long)account);
	p[1] = d->checkout_key;
	/* Done already? A retry or a second submit of this cart. */
	if ((*st = shoal_tx_query(tx, "SELECT id FROM orders WHERE "
	    "idempotency_key = $2 AND account_id = $1", 2, p, &rows)) !=
	    SHOAL_OK)
		goto fail;
	if (rows->nrows == 1)
		goto found;
	p[0] = array(r, d, 0, NULL);
	if ((*st = shoal_tx_query(tx, "SELECT id, price_cents FROM products "
	    "WHERE id = ANY($1::bigint[])", 1, p, &rows)) != SHOAL_OK)
		goto fail;
	for (i = 0; i < d->n_cart; i++) {
		if (d->cart[i]->product_id == 0)
			continue;
		for (k = 0; k < rows->nrows; k++)
			if (shoal_row_int(rows, k, 0) == d->cart[i]->product_id)
				break;
		if (k == rows->nrows) {
			shoal_tx_rollback(tx);
			*why = "a product in the cart is no longer sold: "
			    "remove it first";
			return 0;
		}
		price[i] = shoal_row_int(rows, k, 1);
		total += price[i] * (int64_t)d->cart[i]->qty;
	}
	p[0] = shoal_printf(r, "%lld", (long long)account);
	p[1] = d->checkout_key;
	p[2] = shoal_printf(r, "%lld", (long long)total);
	/* A concurrent submit of the same key waits here for the other's
	 * commit, then inserts nothing. */
	if ((*st = shoal_tx_query(tx, "INSERT INTO orders (account_id, "
	    "idempotency_key, total_cents) VALUES ($1, $2, $3) "
	    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id", 3, p,
	    &rows)) != SHOAL_OK)
		goto fail;
	if (rows->nrows == 0) {
		if ((*st = shoal_tx_query(tx, "SELECT id FROM orders WHERE "
		    "idempotency_key = $2 AND account_id = $1", 2, p,
		    &rows)) != SHOAL_OK)
			goto fail;
		if (rows->nrows != 1) {
			shoal_tx_rollback(tx);
			*why = "this checkout is not yours";
			return 0;
		}
		goto found;
	}
	*order = shoal_row_int(rows, 0, 0);
	p[0] = shoal_printf(r, "%lld", (long long)*order);
	p[1] = array(r, d, 0, NULL);
	p[2] = array(r, d, 1, NULL);
	p[3] = array(r, d, 2, price);
	if ((*st = shoal_tx_query(tx, "INSERT INTO order_lines (order_id, "
	    "line, product_id, qty, price_cents) SELECT $1, t.n, t.p, t.q, t.c "
	    "FROM unnest($2::bigint[], $3::int[], $4::int[]) WITH ORDINALITY "
	    "AS t(p, q, c, n)", 4, p, NULL)) != SHOAL_OK)
		goto fail;
	if ((*st = shoal_tx_commit(tx)) != SHOAL_OK)
		return -1;
	return 1;
found:
	*order = shoal_row_int(rows, 0, 0);
	shoal_tx_rollback(tx);
	return 1;
fail:
	shoal_tx_rollback(tx);
	return -1;
}

void
page_checkout(struct shoal_req *r)
{
	const Shop__SessionData	*d;
	const char		*why = NULL;
	char			*key;
	enum shoal_status	 st;
	int64_t			 account, order = 0;
	int			 rc;

	if (shoal_user(r) == NULL) {
		shoal_flash(r, SHOAL_FLASH_INFO, "Sign in to check out: your "
		    "cart is kept.");
		shoal_redirect(r, "/login");
		return;
	}
	if ((account = shoal_account_id(r)) == 0) {
		shoal_fail(r, SHOAL_ANONYMOUS);
		return;
	}
	key = fresh_key(r);
	if ((st = shoal_session_change(r, keep_key, key)) !=
	    SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	d = shoal_data(r);
	if (!cart_has_products(d) || d->checkout_key[0] == '\0') {
		shoal_error(r, 409, "the cart holds no products to order");
		return;
	}
	if ((rc = place(r, d, account, &order, &why, &st)) < 0) {
		shoal_fail(r, st);
		return;
	}
	if (rc == 0) {
		shoal_error(r, 409, why);
		return;
	}
	st = shoal_session_change(r, ordered, d->checkout_key);
	/* The order stands; a cart not emptied now is on a retry. */
	if (st != SHOAL_OK && st != SHOAL_ANONYMOUS) {
		shoal_fail(r, st);
		return;
	}
	shoal_flash(r, SHOAL_FLASH_SUCCESS, shoal_printf(r, "Order %lld "
	    "placed.", (long long)order));
	shoal_redirect(r, shoal_printf(r, "/orders/%lld", (long long)order));
}
