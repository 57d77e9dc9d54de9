/*
 * app.h - @NAME@'s handlers, one per route (routes.c), and what they share.
 */
#ifndef APP_H
#define APP_H

#include "shoal.h"
#include "@NAME@.pb-c.h"

/* routes.c */
extern const struct shoal_route app_routes[];
/* Generated from templates/ by the build (the tier's tools/embed). */
extern const struct shoal_template app_templates[];
/* Generated from db/ by the build: the app's tables (may be none). */
extern const struct shoal_migration app_migrations[];

void	page_home(struct shoal_req *);
void	page_name_post(struct shoal_req *);

/* home.c: the visitor's name, as it lives in the session. */
#define VISITOR_NAME_MAX	64

/* NULL when name is fit to keep, else why not. */
const char *name_check(const char *name);
/* A change (shoal_session_change): arg is the name, allocated with
 * shoal_alloc or shoal_strdup. */
enum shoal_change_result name_set(struct shoal_req *, void *data, void *arg);

#endif
