/*
 * notes.c - the notes as they live in the session record: what text may be
 * kept, adding and deleting a note, and a guest's notes joining a user's at
 * sign-in. The tier applies a change with compare-and-set and, when another
 * request wrote first, applies it again to the fresh record, so note_add()
 * and note_delete() look only at the record and their argument.
 */
#include <string.h>

#include "app.h"

const char *
note_check(const char *text)
{
	const char	*p;
	int		 blank = 1;

	if (text == NULL || text[0] == '\0')
		return "A note needs some text.";
	if (strlen(text) > NOTE_TEXT_MAX)
		return "A note is at most 500 bytes.";
	if (!shoal_utf8_valid(text))
		return "A note must be UTF-8 text.";
	for (p = text; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n' &&
		    *p != '\r')
			return "A note must not contain control characters.";
		if (*p == 0x7f)
			return "A note must not contain control characters.";
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			blank = 0;
	}
	return blank ? "A note needs some text." : NULL;
}

static long
note_find(const Notes__SessionData *d, uint32_t id)
{
	size_t	 i;

	for (i = 0; i < d->n_notes; i++)
		if (d->notes[i]->id == id)
			return (long)i;
	return -1;
}

/*
 * The next id: next_id unless a note has it already (the counter wrapped
 * past 2^32, or the record came from elsewhere), never 0. Each step skips
 * one note at most, so the loop ends within n_notes + 1 steps.
 */
static uint32_t
note_fresh_id(const Notes__SessionData *d)
{
	uint32_t	 id = d->next_id;

	while (id == 0 || note_find(d, id) >= 0)
		id++;
	return id;
}

/* Appends a note; the caller checked there is room and the text. */
static void
note_append(struct shoal_req *r, Notes__SessionData *d, const char *text,
    int64_t created)
{
	Notes__Note	**list, *n;

	n = shoal_alloc(r, sizeof *n);
	notes__note__init(n);
	n->id = note_fresh_id(d);
	n->text = shoal_strdup(r, text);
	n->created = created;
	d->next_id = n->id + 1;
	list = shoal_alloc(r, (d->n_notes + 1) * sizeof *list);
	if (d->n_notes > 0)
		memcpy(list, d->notes, d->n_notes * sizeof *list);
	list[d->n_notes++] = n;
	d->notes = list;
}

enum shoal_change_result
note_add(struct shoal_req *r, void *data, void *arg)
{
	Notes__SessionData	*d = data;
	const struct note_new	*n = arg;

	if (d->n_notes >= NOTES_MAX)
		return SHOAL_REJECTED;
	note_append(r, d, n->text, n->created);
	return SHOAL_CHANGED;
}

enum shoal_change_result
note_delete(struct shoal_req *r, void *data, void *arg)
{
	Notes__SessionData	*d = data;
	const uint32_t		*id = arg;
	long			 i = note_find(d, *id);

	(void)r;
	if (i < 0)
		return SHOAL_REJECTED;
	memmove(&d->notes[i], &d->notes[i + 1],
	    (d->n_notes - (size_t)i - 1) * sizeof *d->notes);
	d->n_notes--;
	return SHOAL_CHANGED;
}

/*
 * A guest's notes join the notes of the session a sign-in starts, oldest
 * first, each with a fresh id, until there are NOTES_MAX: what does not
 * fit, or would not pass note_check, is left out rather than failing the
 * sign-in.
 */
void
notes_merge(struct shoal_req *r, void *into, const void *guest)
{
	Notes__SessionData		*d = into;
	const Notes__SessionData	*g = guest;
	size_t				 k;

	for (k = 0; k < g->n_notes && d->n_notes < NOTES_MAX; k++) {
		if (note_check(g->notes[k]->text) != NULL)
			continue;
		note_append(r, d, g->notes[k]->text, g->notes[k]->created);
	}
}
