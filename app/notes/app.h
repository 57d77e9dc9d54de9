/*
 * app.h - the notes app's handlers, one per route (routes.c), and the notes
 * as they live in the session record (notes.c).
 */
#ifndef APP_H
#define APP_H

#include <stdint.h>

#include "shoal.h"
#include "notes.pb-c.h"

/* routes.c */
extern const struct shoal_route notes_routes[];
/* Generated from templates/ by the build (tools/embed). */
extern const struct shoal_template app_templates[];

void	page_home(struct shoal_req *);
void	page_note_add(struct shoal_req *);
void	page_note_delete(struct shoal_req *);
void	api_notes(struct shoal_req *);

/* notes.c: at most NOTES_MAX notes, each 1 to NOTE_TEXT_MAX bytes. */
#define NOTES_MAX	20
#define NOTE_TEXT_MAX	500

struct note_new {
	const char	*text;		/* checked with note_check */
	int64_t		 created;	/* unix seconds */
};

/* NULL when text may be kept as a note, else why not (names no input). */
const char *note_check(const char *text);
/* Changes (shoal_session_change). note_add: arg is a struct note_new;
 * SHOAL_REJECTED when there are NOTES_MAX notes already. note_delete: arg
 * is the uint32_t id; SHOAL_REJECTED when no note has it. */
enum shoal_change_result note_add(struct shoal_req *, void *data, void *arg);
enum shoal_change_result note_delete(struct shoal_req *, void *data,
	    void *arg);
void	notes_merge(struct shoal_req *, void *into, const void *guest);

#endif
