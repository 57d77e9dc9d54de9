/*
 * shopdb.c - the shop's reads of the catalogue.
 */
#include <stdio.h>
#include <string.h>

#include "app.h"

/* Product id, name, price_cents, description through the cache; NULL with
 * *st SHOAL_OK when there is no such product. */
struct shoal_rows *
shop_product(struct shoal_req *r, int64_t id, enum shoal_status *st)
{
	const char		*p[1];
	struct shoal_rows	*rows;

	p[0] = shoal_printf(r, "%lld", (long long)id);
	*st = shoal_db_cached(r, shoal_printf(r, "product:%lld",
	    (long long)id), PRODUCT_TTL_S, "SELECT id, name, price_cents, "
	    "description FROM products WHERE id = $1", 1, p, &rows);
	if (*st != SHOAL_OK || rows->nrows != 1)
		return NULL;
	return rows;
}

const char *
shop_price(struct shoal_req *r, int64_t cents)
{
	return shoal_printf(r, "%lld.%02lld", (long long)(cents / 100),
	    (long long)(cents % 100));
}

/* A positive decimal id of at most 12 digits, or 0. */
int64_t
shop_parse_id(const char *s)
{
	int64_t	 n = 0;
	size_t	 i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 12)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		n = n * 10 + (s[i] - '0');
	}
	return n;
}
