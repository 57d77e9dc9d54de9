/*
 * api.c - the notes as JSON: GET /api/notes.
 */
#include "app.h"

/* {"user":..,"guest":..,"notes":[{"id":..,"text":..,"created":..},..],
 *  "max":20,"csrf":..} */
void
api_notes(struct shoal_req *r)
{
	const Notes__SessionData *d = shoal_data(r);
	struct shoal_json	*j = shoal_json_new(r);
	size_t			 i;

	shoal_json_object(j, NULL);
	shoal_json_str(j, "user", shoal_user(r));
	shoal_json_bool(j, "guest", shoal_guest(r));
	shoal_json_array(j, "notes");
	for (i = 0; i < d->n_notes; i++) {
		/* note_check lets in UTF-8 only; a note from a record written
		 * otherwise is left out rather than failing the answer. */
		if (!shoal_utf8_valid(d->notes[i]->text))
			continue;
		shoal_json_object(j, NULL);
		shoal_json_int(j, "id", d->notes[i]->id);
		shoal_json_str(j, "text", d->notes[i]->text);
		shoal_json_int(j, "created", d->notes[i]->created);
		shoal_json_end(j);
	}
	shoal_json_end(j);
	shoal_json_int(j, "max", NOTES_MAX);
	shoal_json_str(j, "csrf", shoal_csrf_token(r));
	shoal_json_end(j);
	shoal_json_send(r, 200, j);
}
