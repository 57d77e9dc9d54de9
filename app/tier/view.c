/*
 * view.c - the views handlers fill for templates (see view.h and shoal.h).
 *
 * A view is a short linked list of bindings: handlers set a few names per
 * view, so a walk is cheaper than any table. A list binding keeps its first
 * and last item, so adding an item costs the same however long the list.
 * Everything comes from the arena of the view's request; nothing is freed.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "request.h"
#include "view.h"

struct binding {
	struct binding		*next;
	const char		*name;
	size_t			 len;
	enum view_kind		 kind;
	const char		*text;		/* TEXT, HTML */
	struct shoal_view	*first;		/* LIST */
	struct shoal_view	*last;
};

struct shoal_view {
	struct arena		*arena;
	struct binding		*bindings;
	struct shoal_view	*next;		/* the next item of its list */
};

struct shoal_view *
view_new(struct arena *a)
{
	struct shoal_view	*v = arena_calloc(a, 1, sizeof *v);

	v->arena = a;
	return v;
}

struct shoal_view *
shoal_view(struct shoal_req *r)
{
	return view_new(&r->t->arena);
}

static struct binding *
find(const struct shoal_view *v, const char *name, size_t len)
{
	struct binding	*b;

	for (b = v->bindings; b != NULL; b = b->next)
		if (b->len == len && memcmp(b->name, name, len) == 0)
			return b;
	return NULL;
}

/* The binding for name, new or reused: setting a name again replaces it. */
static struct binding *
bind(struct shoal_view *v, const char *name, enum view_kind kind)
{
	struct binding	*b;
	size_t		 len;

	assert(v != NULL && name != NULL);
	len = strlen(name);
	if ((b = find(v, name, len)) == NULL) {
		b = arena_calloc(v->arena, 1, sizeof *b);
		b->name = name;
		b->len = len;
		b->next = v->bindings;
		v->bindings = b;
	}
	if (b->kind != kind || kind != VIEW_LIST) {
		b->first = b->last = NULL;
		b->text = NULL;
	}
	b->kind = kind;
	return b;
}

void
shoal_set(struct shoal_view *v, const char *name, const char *value)
{
	bind(v, name, VIEW_TEXT)->text = value != NULL ? value : "";
}

void
shoal_set_int(struct shoal_view *v, const char *name, long long n)
{
	char	 s[24];

	(void)snprintf(s, sizeof s, "%lld", n);
	bind(v, name, VIEW_TEXT)->text = arena_strdup(v->arena, s);
}

void
shoal_set_html(struct shoal_view *v, const char *name, const char *html)
{
	bind(v, name, VIEW_HTML)->text = html != NULL ? html : "";
}

struct shoal_view *
shoal_add(struct shoal_view *v, const char *list)
{
	struct binding		*b = bind(v, list, VIEW_LIST);
	struct shoal_view	*item = view_new(v->arena);

	if (b->last == NULL)
		b->first = item;
	else
		b->last->next = item;
	b->last = item;
	return item;
}

enum view_kind
view_get(const struct shoal_view *v, const char *name, size_t len,
    struct view_value *out)
{
	const struct binding	*b;

	if (v == NULL || (b = find(v, name, len)) == NULL)
		return VIEW_UNSET;
	out->kind = b->kind;
	out->text = b->text != NULL ? b->text : "";
	out->items = b->first;
	return b->kind;
}

const struct shoal_view *
view_next(const struct shoal_view *item)
{
	return item->next;
}
