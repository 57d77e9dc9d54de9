/*
 * app.h - the example shop's handlers, one per route (routes.c).
 */
#ifndef APP_H
#define APP_H

#include "shoal.h"
#include "shop.pb-c.h"

/* routes.c */
extern const struct shoal_route shop_routes[];
/* Generated from templates/ by the build (tools/embed). */
extern const struct shoal_template app_templates[];
/* Generated from db/ by the build: the shop's tables. */
extern const struct shoal_migration app_migrations[];

void	page_home(struct shoal_req *);
void	page_cart(struct shoal_req *);
void	page_cart_add(struct shoal_req *);
void	page_cart_remove(struct shoal_req *);
void	page_cart_item(struct shoal_req *);
void	page_sessions(struct shoal_req *);
void	page_sessions_revoke(struct shoal_req *);
void	page_password(struct shoal_req *);
void	page_password_post(struct shoal_req *);
void	api_session(struct shoal_req *);
void	page_products(struct shoal_req *);
void	page_product(struct shoal_req *);
void	page_checkout(struct shoal_req *);
void	page_orders(struct shoal_req *);
void	page_order(struct shoal_req *);
void	api_orders(struct shoal_req *);
void	page_profile(struct shoal_req *);
void	page_profile_post(struct shoal_req *);
void	api_cart_add(struct shoal_req *);

/* cart.c: the cart as it lives in the session record. */
#define CART_MAX_LINES	50
#define CART_MAX_QTY	999
#define CART_ITEM_MAX	64

struct cart_change {
	const char	*item;
	unsigned	 qty;		/* add: how many; remove: unused */
	int64_t		 product_id;	/* a catalogue line; 0: free text */
};

/* The index of item's line in the cart, or -1. */
long	cart_find(const Shop__SessionData *, const char *item);
/* Reads item and qty from the form; NULL when they are not valid. */
const char *cart_parse(struct shoal_req *, struct cart_change *);
enum shoal_change_result cart_add(struct shoal_req *, void *data, void *);
enum shoal_change_result cart_remove(struct shoal_req *, void *data, void *);
void	cart_merge(struct shoal_req *, void *into, const void *guest);
unsigned long cart_count(const Shop__SessionData *);
long	cart_find_product(const Shop__SessionData *, int64_t id);
int	cart_has_products(const Shop__SessionData *);
/* The catalogue's word on a product line (SHOAL_REJECT: no such product). */
enum shoal_status cart_product(struct shoal_req *, struct cart_change *);

/* shopdb.c: the catalogue. */
#define PRODUCTS_PAGE		20	/* products a page */
#define PRODUCTS_MAX_PAGE	1000
#define PRODUCTS_TTL_S		60	/* a page in the cache */
#define PRODUCT_TTL_S		300	/* a product in the cache */
#define PRODUCT_ID_MAX		999999999999LL
#define ORDERS_PAGE		50	/* orders listed, newest first */
#define PROFILE_TTL_S		300
#define PROFILE_NAME_MAX	64	/* bytes */
#define PROFILE_EMAIL_MAX	254

struct shoal_rows *shop_product(struct shoal_req *, int64_t id,
	    enum shoal_status *);
const char *shop_price(struct shoal_req *, int64_t cents);
int64_t	shop_parse_id(const char *);

#endif
