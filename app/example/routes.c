/*
 * routes.c - the example shop's route table: one line per page.
 */
#include "app.h"

const struct shoal_route shop_routes[] = {
	{ SHOAL_GET,	"/",			page_home },
	SHOAL_AUTH_ROUTES,	/* /login, /signup, /logout: the tier's */
	{ SHOAL_GET,	"/cart",		page_cart },
	{ SHOAL_POST,	"/cart/add",		page_cart_add },
	{ SHOAL_POST,	"/cart/remove",		page_cart_remove },
	{ SHOAL_GET,	"/cart/items/{item}",	page_cart_item },
	{ SHOAL_POST,	"/cart/checkout",	page_checkout },
	{ SHOAL_GET,	"/products",		page_products },
	{ SHOAL_GET,	"/products/{id:int}",	page_product },
	{ SHOAL_GET,	"/orders",		page_orders },
	{ SHOAL_GET,	"/orders/{id:int}",	page_order },
	{ SHOAL_GET,	"/account/profile",	page_profile },
	{ SHOAL_POST,	"/account/profile",	page_profile_post },
	{ SHOAL_GET,	"/api/orders",		api_orders },
	{ SHOAL_GET,	"/account/sessions",	page_sessions },
	{ SHOAL_POST,	"/account/sessions/revoke", page_sessions_revoke },
	{ SHOAL_GET,	"/account/password",	page_password },
	{ SHOAL_POST,	"/account/password",	page_password_post },
	{ SHOAL_GET,	"/api/session",		api_session },
	{ SHOAL_POST,	"/api/cart/add",	api_cart_add },
	{ 0,		NULL,			NULL },
};
