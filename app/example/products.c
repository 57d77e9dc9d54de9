/*
 * products.c - the catalogue: GET /products?page=N and
 * GET /products/{id:int}, read through the cache.
 */
#include "app.h"

void
page_products(struct shoal_req *r)
{
	const char		*q = shoal_query(r, "page");
	const char		*p[2];
	struct shoal_rows	*rows;
	struct shoal_view	*v, *row;
	enum shoal_status	 st;
	int64_t			 page = 1;
	int			 i;

	if (q != NULL && ((page = shop_parse_id(q)) < 1 ||
	    page > PRODUCTS_MAX_PAGE)) {
		shoal_error(r, 400, "page must be 1 to 1000");
		return;
	}
	/* One more than a page: whether there is a next one. */
	p[0] = shoal_printf(r, "%d", PRODUCTS_PAGE + 1);
	p[1] = shoal_printf(r, "%lld", (long long)(page - 1) * PRODUCTS_PAGE);
	if ((st = shoal_db_cached(r, shoal_printf(r, "products:%lld",
	    (long long)page), PRODUCTS_TTL_S, "SELECT id, name, price_cents "
	    "FROM products ORDER BY id LIMIT $1 OFFSET $2", 2, p, &rows)) !=
	    SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	v = shoal_view(r);
	shoal_set(v, "title", "Products");
	for (i = 0; i < rows->nrows && i < PRODUCTS_PAGE; i++) {
		row = shoal_add(v, "products");
		shoal_set(row, "id", shoal_row_str(rows, i, 0));
		shoal_set(row, "name", shoal_row_str(rows, i, 1));
		shoal_set(row, "price", shop_price(r, shoal_row_int(rows, i,
		    2)));
	}
	shoal_set_int(v, "page", page);
	if (page > 1)
		shoal_set_int(v, "prev", page - 1);
	if (rows->nrows > PRODUCTS_PAGE && page < PRODUCTS_MAX_PAGE)
		shoal_set_int(v, "next", page + 1);
	shoal_render(r, 200, "products", v);
}

void
page_product(struct shoal_req *r)
{
	int64_t			 id = shoal_param_int(r, "id");
	struct shoal_rows	*p;
	struct shoal_view	*v;
	enum shoal_status	 st;

	if (id < 1 || id > PRODUCT_ID_MAX) {
		shoal_error(r, 404, "no such product");
		return;
	}
	if ((p = shop_product(r, id, &st)) == NULL) {
		if (st == SHOAL_OK)
			shoal_error(r, 404, "no such product");
		else
			shoal_fail(r, st);
		return;
	}
	v = shoal_view(r);
	shoal_set(v, "title", shoal_row_str(p, 0, 1));
	shoal_set(v, "id", shoal_row_str(p, 0, 0));
	shoal_set(v, "name", shoal_row_str(p, 0, 1));
	shoal_set(v, "price", shop_price(r, shoal_row_int(p, 0, 2)));
	shoal_set(v, "description", shoal_row_str(p, 0, 3));
	shoal_render(r, 200, "product", v);
}
