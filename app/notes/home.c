/*
 * home.c - the front page, the list of notes with the form that adds one,
 * and the two forms' posts. A guest keeps notes too: the first note added
 * starts a guest session.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "app.h"

static const char *
when(struct shoal_req *r, int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 s[32];

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(s, sizeof s, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		return "";
	return shoal_strdup(r, s);
}

/* The page, with error (and the text sent, to correct) after a bad post. */
static void
list(struct shoal_req *r, int status, const char *error, const char *text)
{
	const Notes__SessionData *d = shoal_data(r);
	struct shoal_view	*v = shoal_view(r), *row;
	size_t			 i;

	shoal_set(v, "title", "Notes");
	shoal_set(v, "error", error);
	shoal_set(v, "text", text);
	shoal_set(v, "has_notes", d->n_notes > 0 ? "1" : NULL);
	shoal_set(v, "full", d->n_notes >= NOTES_MAX ? "1" : NULL);
	shoal_set_int(v, "count", (long long)d->n_notes);
	shoal_set_int(v, "max", NOTES_MAX);
	for (i = 0; i < d->n_notes; i++) {
		row = shoal_add(v, "notes");
		shoal_set_int(row, "id", d->notes[i]->id);
		shoal_set(row, "note", d->notes[i]->text);
		shoal_set(row, "created", when(r, d->notes[i]->created));
	}
	shoal_render(r, status, "home", v);
}

void
page_home(struct shoal_req *r)
{
	list(r, 200, NULL, NULL);
}

void
page_note_add(struct shoal_req *r)
{
	struct note_new		 n;
	const char		*bad;
	enum shoal_status	 st;

	n.text = shoal_form(r, "text");
	n.created = (int64_t)time(NULL);
	/* The text goes back into the form only when it can be shown. */
	if ((bad = note_check(n.text)) != NULL) {
		list(r, 400, bad, n.text != NULL && shoal_utf8_valid(n.text) ?
		    n.text : NULL);
		return;
	}
	switch ((st = shoal_session_change(r, note_add, &n))) {
	case SHOAL_OK:
		shoal_flash(r, SHOAL_FLASH_SUCCESS, "Note added.");
		shoal_redirect(r, "/");
		break;
	case SHOAL_REJECT:
		list(r, 409, "You have 20 notes, the most there can be: delete "
		    "one to add another.", n.text);
		break;
	case SHOAL_ANONYMOUS:
		shoal_redirect(r, "/login");
		break;
	default:
		shoal_fail(r, st);
	}
}

void
page_note_delete(struct shoal_req *r)
{
	int64_t			 id = shoal_param_int(r, "id");
	uint32_t		 id32;
	enum shoal_status	 st;

	/* Ids are 1 to 2^32 - 1: any other number names no note. */
	if (id < 1 || id > UINT32_MAX) {
		shoal_error(r, 404, "no such note");
		return;
	}
	id32 = (uint32_t)id;
	switch ((st = shoal_session_change(r, note_delete, &id32))) {
	case SHOAL_OK:
		shoal_flash(r, SHOAL_FLASH_INFO, "Note deleted.");
		shoal_redirect(r, "/");
		break;
	case SHOAL_REJECT:
	case SHOAL_ANONYMOUS:
		shoal_error(r, 404, "no such note");
		break;
	default:
		shoal_fail(r, st);
	}
}
