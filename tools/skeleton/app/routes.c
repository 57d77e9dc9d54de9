/*
 * routes.c - @NAME@'s route table: one line per page (make new-page adds
 * one above the last line).
 */
#include "app.h"

const struct shoal_route app_routes[] = {
	{ SHOAL_GET,	"/",		page_home },
	{ SHOAL_POST,	"/name",	page_name_post },
	{ 0,		NULL,		NULL },
};
