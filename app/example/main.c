/*
 * main.c - the example shop as a shoal app: its routes, its templates, the
 * session data it keeps (shop.proto), how a guest's cart joins a user's,
 * and its tables (db/).
 */
#include "app.h"

static const struct shoal_app shop = {
	.name = "shop",
	.routes = shop_routes,
	.templates = app_templates,
	.data = &shop__session_data__descriptor,
	.merge = cart_merge,
	.migrations = app_migrations,	/* db/: the catalogue, orders */
};

int
main(int argc, char **argv)
{
	return shoal_main(argc, argv, &shop);
}
