/*
 * orders.c - the signed-in user's orders: GET /orders, /orders/{id:int}
 * and /api/orders. Reads with read-your-writes: an order just placed is
 * there on the next page, whichever worker and replica serve it.
 *
 * The lists are paged by key, newest first: ?before=ID lists the orders
 * older than ID, and a page that is not the last names the next one (the
 * id to pass as before). Unlike an offset, a key stays right while new
 * orders arrive, and the database reads one page whatever the depth.
 */
#include "app.h"

#define LIST_SQL "SELECT id, status, total_cents, " \
	"to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') " \
	"FROM orders WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"

/* The account's id, or 0 after answering (a visitor goes to sign in). */
static int64_t
account(struct shoal_req *r, int json)
{
	struct shoal_json	*j;
	int64_t			 id;

	if (shoal_user(r) == NULL) {
		if (!json) {
			shoal_redirect(r, "/login");
			return 0;
		}
		j = shoal_json_new(r);
		shoal_json_object(j, NULL);
		shoal_json_str(j, "error", "sign in first");
		shoal_json_end(j);
		shoal_json_send(r, 401, j);
		return 0;
	}
	if ((id = shoal_account_id(r)) == 0)
		shoal_fail(r, SHOAL_ANONYMOUS);
	return id;
}

/*
 * One page of the account's orders, older than ?before= when given, and
 * one more row than a page (whether there is a next one). 0 after
 * answering 400.
 */
static int
list(struct shoal_req *r, int64_t id, struct shoal_rows **rows)
{
	const char		*q = shoal_query(r, "before");
	const char		*p[3];
	enum shoal_status	 st;
	int64_t			 before = INT64_MAX;

	if (q != NULL && (before = shop_parse_id(q)) < 1) {
		shoal_error(r, 400, "before must be an order number");
		return 0;
	}
	p[0] = shoal_printf(r, "%lld", (long long)id);
	p[1] = shoal_printf(r, "%lld", (long long)before);
	p[2] = shoal_printf(r, "%d", ORDERS_PAGE + 1);
	if ((st = shoal_db_read(r, LIST_SQL, 3, p, rows)) != SHOAL_OK) {
		shoal_fail(r, st);
		return 0;
	}
	return 1;
}

/* The id to pass as before= for the next page; 0 on the last page. */
static int64_t
next_before(const struct shoal_rows *rows)
{
	if (rows->nrows <= ORDERS_PAGE)
		return 0;
	return shoal_row_int(rows, ORDERS_PAGE - 1, 0);
}

void
page_orders(struct shoal_req *r)
{
	struct shoal_rows	*rows;
	struct shoal_view	*v, *row;
	int64_t			 id, next;
	int			 i;

	if ((id = account(r, 0)) == 0 || !list(r, id, &rows))
		return;
	v = shoal_view(r);
	shoal_set(v, "title", "Your orders");
	for (i = 0; i < rows->nrows && i < ORDERS_PAGE; i++) {
		row = shoal_add(v, "orders");
		shoal_set(row, "id", shoal_row_str(rows, i, 0));
		shoal_set(row, "status", shoal_row_str(rows, i, 1));
		shoal_set(row, "total", shop_price(r, shoal_row_int(rows, i,
		    2)));
		shoal_set(row, "created", shoal_row_str(rows, i, 3));
	}
	if ((next = next_before(rows)) != 0)
		shoal_set_int(v, "next", next);
	shoal_render(r, 200, "orders", v);
}

void
page_order(struct shoal_req *r)
{
	int64_t			 order = shoal_param_int(r, "id"), id;
	const char		*p[2];
	struct shoal_rows	*rows;
	struct shoal_view	*v, *line;
	enum shoal_status	 st;
	int			 i;

	if ((id = account(r, 0)) == 0)
		return;
	if (order < 1) {
		shoal_error(r, 404, "no such order");
		return;
	}
	p[0] = shoal_printf(r, "%lld", (long long)order);
	p[1] = shoal_printf(r, "%lld", (long long)id);
	/* Someone else's order is as absent as one that never was. */
	if ((st = shoal_db_read(r, "SELECT o.id, o.status, o.total_cents, "
	    "to_char(o.created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
	    "l.product_id, p.name, l.qty, l.price_cents FROM orders o "
	    "LEFT JOIN order_lines l ON l.order_id = o.id "
	    "LEFT JOIN products p ON p.id = l.product_id "
	    "WHERE o.id = $1 AND o.account_id = $2 ORDER BY l.line", 2, p,
	    &rows)) != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	if (rows->nrows == 0) {
		shoal_error(r, 404, "no such order");
		return;
	}
	v = shoal_view(r);
	shoal_set(v, "title", shoal_printf(r, "Order %s",
	    shoal_row_str(rows, 0, 0)));
	shoal_set(v, "id", shoal_row_str(rows, 0, 0));
	shoal_set(v, "status", shoal_row_str(rows, 0, 1));
	shoal_set(v, "total", shop_price(r, shoal_row_int(rows, 0, 2)));
	shoal_set(v, "created", shoal_row_str(rows, 0, 3));
	for (i = 0; i < rows->nrows; i++) {
		if (shoal_row_str(rows, i, 4) == NULL)
			continue;
		line = shoal_add(v, "lines");
		shoal_set(line, "product", shoal_row_str(rows, i, 4));
		shoal_set(line, "name", shoal_row_str(rows, i, 5));
		shoal_set(line, "qty", shoal_row_str(rows, i, 6));
		shoal_set(line, "price", shop_price(r, shoal_row_int(rows, i,
		    7)));
	}
	shoal_render(r, 200, "order", v);
}

/*
 * {"orders":[{"id":..,"status":..,"total_cents":..,"created":..},..],
 *  "next":ID} (next only when there are older orders: ?before=ID)
 */
void
api_orders(struct shoal_req *r)
{
	struct shoal_rows	*rows;
	struct shoal_json	*j;
	int64_t			 id, next;
	int			 i;

	if ((id = account(r, 1)) == 0 || !list(r, id, &rows))
		return;
	j = shoal_json_new(r);
	shoal_json_object(j, NULL);
	shoal_json_array(j, "orders");
	for (i = 0; i < rows->nrows && i < ORDERS_PAGE; i++) {
		shoal_json_object(j, NULL);
		shoal_json_int(j, "id", shoal_row_int(rows, i, 0));
		shoal_json_str(j, "status", shoal_row_str(rows, i, 1));
		shoal_json_int(j, "total_cents", shoal_row_int(rows, i, 2));
		shoal_json_str(j, "created", shoal_row_str(rows, i, 3));
		shoal_json_end(j);
	}
	shoal_json_end(j);
	if ((next = next_before(rows)) != 0)
		shoal_json_int(j, "next", next);
	shoal_json_end(j);
	shoal_json_send(r, 200, j);
}
