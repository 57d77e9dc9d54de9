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
void	api_cart_add(struct shoal_req *);

/* cart.c: the cart as it lives in the session record. */
#define CART_MAX_LINES	50
#define CART_MAX_QTY	999
#define CART_ITEM_MAX	64

struct cart_change {
	const char	*item;
	unsigned	 qty;		/* add: how many; remove: unused */
};

/* The index of item's line in the cart, or -1. */
long	cart_find(const Shop__SessionData *, const char *item);
/* Reads item and qty from the form; NULL when they are not valid. */
const char *cart_parse(struct shoal_req *, struct cart_change *);
enum shoal_change_result cart_add(struct shoal_req *, void *data, void *);
enum shoal_change_result cart_remove(struct shoal_req *, void *data, void *);
void	cart_merge(struct shoal_req *, void *into, const void *guest);
unsigned long cart_count(const Shop__SessionData *);

#endif
