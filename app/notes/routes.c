/*
 * routes.c - the notes app's route table: one line per page.
 */
#include "app.h"

const struct shoal_route notes_routes[] = {
	{ SHOAL_GET,	"/",			page_home },
	{ SHOAL_POST,	"/notes",		page_note_add },
	{ SHOAL_POST,	"/notes/{id:int}/delete", page_note_delete },
	{ SHOAL_GET,	"/api/notes",		api_notes },
	SHOAL_AUTH_ROUTES,	/* /login, /signup, /logout: the tier's */
	{ 0,		NULL,			NULL },
};
