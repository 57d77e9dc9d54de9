/*
 * shopdb.c - the shop's reads of the catalogue and the one place that
 * finds the signed-in user's account id.
 */
#include <stdio.h>
#include <string.h>

#include "app.h"

/*
 * The account id of the signed-in user, or 0 with *st set (SHOAL_ANONYMOUS
 * for a visitor). Accounts are still created in Redis by the tier's
 * sign-up, so the row is made here on first use with a placeholder that is
 * no Argon2id hash (nothing can sign in with it); once accounts live in
 * PostgreSQL this becomes shoal_account_id(r).
 */
int64_t
shop_account_id(struct shoal_req *r, enum shoal_status *st)
{
	const char		*user = shoal_user(r);
	const char		*p[1];
	struct shoal_rows	*rows;
	struct shoal_tx		*tx;

	*st = SHOAL_ANONYMOUS;
	if (user == NULL)
		return 0;
	p[0] = user;
	if ((*st = shoal_db_read(r, "SELECT id FROM accounts WHERE name = $1",
	    1, p, &rows)) != SHOAL_OK)
		return 0;
	if (rows->nrows == 1)
		return shoal_row_int(rows, 0, 0);
	if ((*st = shoal_tx_begin(r, &tx)) != SHOAL_OK)
		return 0;
	if ((*st = shoal_tx_query(tx, "WITH made AS (INSERT INTO accounts "
	    "(name, password_hash) VALUES ($1, '$argon2id$placeholder') "
	    "ON CONFLICT (name) DO NOTHING RETURNING id) SELECT id FROM made "
	    "UNION ALL SELECT id FROM accounts WHERE name = $1", 1, p,
	    &rows)) != SHOAL_OK) {
		shoal_tx_rollback(tx);
		return 0;
	}
	if ((*st = shoal_tx_commit(tx)) != SHOAL_OK)
		return 0;
	/* Made by a concurrent request after this statement's snapshot:
	 * committed now, and read-your-writes finds it. */
	if (rows->nrows < 1 && (*st = shoal_db_read(r, "SELECT id FROM "
	    "accounts WHERE name = $1", 1, p, &rows)) != SHOAL_OK)
		return 0;
	if (rows->nrows < 1) {
		*st = SHOAL_INTERNAL;
		return 0;
	}
	return shoal_row_int(rows, 0, 0);
}

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
