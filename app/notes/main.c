/*
 * main.c - the notes app: its routes, its templates, the notes it keeps in
 * each session (notes.proto) and how a guest's notes join a user's.
 */
#include "app.h"

static const struct shoal_app notes = {
	.name = "notes",
	.routes = notes_routes,
	.templates = app_templates,
	.data = &notes__session_data__descriptor,
	.merge = notes_merge,
};

int
main(int argc, char **argv)
{
	return shoal_main(argc, argv, &notes);
}
