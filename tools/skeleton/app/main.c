/*
 * main.c - @NAME@ as a shoal app: its routes, its templates, the session
 * data it keeps (@NAME@.proto) and its tables (db/).
 */
#include "app.h"

static const struct shoal_app app = {
	.name = "@NAME@",
	.routes = app_routes,
	.templates = app_templates,
	.data = &@NAME@__session_data__descriptor,
	/* No sign-in pages yet: a guest's data is dropped at sign-in. */
	.merge = NULL,
	/* Its tables, from db/ (none yet). */
	.migrations = app_migrations,
};

int
main(int argc, char **argv)
{
	return shoal_main(argc, argv, &app);
}
