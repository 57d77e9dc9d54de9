/*
 * json.c - the JSON writer handlers answer with (see json.h and shoal.h).
 *
 * The writer keeps a stack of what is open, so it knows where a key
 * belongs and where a comma goes; a handler never writes punctuation. The
 * first misuse stops the writing and keeps its reason for the log, since
 * half a document sent as 200 would be worse than a 500.
 */
#include <string.h>

#include "arena.h"
#include "html.h"
#include "json.h"
#include "log.h"
#include "request.h"

void
json_init(struct shoal_json *j, struct arena *a)
{
	memset(j, 0, sizeof *j);
	buf_init_arena(&j->out, a);
}

struct shoal_json *
shoal_json_new(struct shoal_req *r)
{
	struct shoal_json	*j = arena_alloc(&r->t->arena, sizeof *j);

	json_init(j, &r->t->arena);
	return j;
}

static int
misuse(struct shoal_json *j, const char *why)
{
	if (j->error == NULL)
		j->error = why;
	return -1;
}

/*
 * Everything before a value: the checks of where it is written, the comma
 * after the member before it, and its key. -1 on misuse.
 */
static int
value_begin(struct shoal_json *j, const char *key)
{
	if (j == NULL || j->error != NULL)
		return -1;
	if (j->depth == 0) {
		if (j->done)
			return misuse(j, "a second top-level value");
		if (key != NULL)
			return misuse(j, "a key outside an object");
	} else if (j->open[j->depth - 1] == '}') {
		if (key == NULL)
			return misuse(j, "a member of an object without a key");
	} else if (key != NULL)
		return misuse(j, "a key inside an array");
	if (j->depth > 0 && !j->empty)
		buf_putc(&j->out, ',');
	j->empty = 0;
	if (key != NULL) {
		if (json_string_strict(&j->out, key, strlen(key)) != 0)
			return misuse(j, "a key that is not valid UTF-8");
		buf_putc(&j->out, ':');
	}
	return 0;
}

/* After a value: one at the top level completes the document. */
static void
value_end(struct shoal_json *j)
{
	if (j->depth == 0)
		j->done = 1;
}

static void
open_one(struct shoal_json *j, const char *key, char opener, char closer)
{
	if (value_begin(j, key) != 0)
		return;
	if (j->depth == JSON_MAX_DEPTH) {
		misuse(j, "objects and arrays nested deeper than 16");
		return;
	}
	j->open[j->depth++] = closer;
	j->empty = 1;
	buf_putc(&j->out, opener);
}

void
shoal_json_object(struct shoal_json *j, const char *key)
{
	open_one(j, key, '{', '}');
}

void
shoal_json_array(struct shoal_json *j, const char *key)
{
	open_one(j, key, '[', ']');
}

void
shoal_json_end(struct shoal_json *j)
{
	if (j == NULL || j->error != NULL)
		return;
	if (j->depth == 0) {
		misuse(j, "an end with no object or array open");
		return;
	}
	buf_putc(&j->out, j->open[--j->depth]);
	j->empty = 0;
	value_end(j);
}

void
shoal_json_str(struct shoal_json *j, const char *key, const char *value)
{
	if (value_begin(j, key) != 0)
		return;
	if (value == NULL)
		buf_puts(&j->out, "null");
	else if (json_string_strict(&j->out, value, strlen(value)) != 0) {
		misuse(j, "a string that is not valid UTF-8");
		return;
	}
	value_end(j);
}

void
shoal_json_int(struct shoal_json *j, const char *key, long long n)
{
	unsigned long long	 u;

	if (value_begin(j, key) != 0)
		return;
	/* The magnitude in unsigned arithmetic: -LLONG_MIN overflows. */
	u = n < 0 ? 0 - (unsigned long long)n : (unsigned long long)n;
	if (n < 0)
		buf_putc(&j->out, '-');
	buf_put_uint(&j->out, u, 1);
	value_end(j);
}

void
shoal_json_bool(struct shoal_json *j, const char *key, int yes)
{
	if (value_begin(j, key) != 0)
		return;
	buf_puts(&j->out, yes ? "true" : "false");
	value_end(j);
}

int
shoal_utf8_valid(const char *s)
{
	return utf8_valid(s, strlen(s));
}

const char *
json_result(struct shoal_json *j, size_t *len, const char **why)
{
	if (j == NULL)
		*why = "no writer";
	else if (j->error != NULL)
		*why = j->error;
	else if (j->depth > 0)
		*why = "an object or array left open";
	else if (!j->done)
		*why = "no value written";
	else {
		*len = j->out.len;
		return buf_cstr(&j->out);
	}
	return NULL;
}

void
shoal_json_send(struct shoal_req *r, int status, struct shoal_json *j)
{
	const char	*text, *why = NULL;
	size_t		 len;

	if ((text = json_result(j, &len, &why)) == NULL) {
		log_event("error", "JSON answer of %s not sent: %s", r->in.path,
		    why);
		shoal_error(r, 500, "internal error");
		return;
	}
	/* Escaped, the text holds no NUL: shoal_json sends all len bytes. */
	shoal_json(r, status, text);
}
