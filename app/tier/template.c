/*
 * template.c - page templates (see template.h).
 *
 * A template is parsed once into a list of parts: literal text, a value,
 * or the start or end of a section; a section start knows where its end
 * is. Rendering walks the parts; nothing is parsed on the request path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "html.h"
#include "oom.h"
#include "shoal.h"
#include "template.h"
#include "view.h"

#define TEMPLATE_MAX_PARTS	256
#define TEMPLATE_MAX_NAME	64
#define TEMPLATES_MAX		64

#define TEMPLATE_MAX_DEPTH	8

enum part_kind {
	PART_TEXT,
	PART_VAR,	/* {{name}} */
	PART_RAW,	/* {{&name}} */
	PART_IF,	/* {{#name}}: once per item, or once if set, not "" */
	PART_UNLESS,	/* {{^name}}: once if unset, "" or no items */
	PART_END,	/* {{/name}} */
};

struct part {
	enum part_kind	 kind;
	const char	*text;		/* TEXT: into the source; else a name */
	size_t		 len;
	size_t		 end;		/* IF, UNLESS: index of the END part */
};

struct template {
	const char	*name;
	size_t		 nparts;
	struct part	*parts;
};

static int
name_char(char c, int asset)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' ||
	    (asset && (c == '.' || c == '-'));
}

static int
add_part(struct template *t, enum part_kind kind, const char *text,
    size_t len)
{
	if (t->nparts == TEMPLATE_MAX_PARTS)
		return -1;
	t->parts[t->nparts].kind = kind;
	t->parts[t->nparts].text = text;
	t->parts[t->nparts].len = len;
	t->nparts++;
	return 0;
}

/* Line of p in text, from 1, for error messages. */
static unsigned
line_of(const char *text, const char *p)
{
	unsigned	 n = 1;

	for (; text < p; text++)
		if (*text == '\n')
			n++;
	return n;
}

static const char *
sigil(enum part_kind kind)
{
	return kind == PART_UNLESS ? "^" : "#";
}

/*
 * Parses text into parts, matching each {{/name}} with the section it
 * closes. A refusal is one line in err that names the template and the
 * line of the tag at fault (for a section never closed, the line where it
 * opens).
 */
struct template *
template_parse(const char *name, const char *text, size_t len, char *err,
    size_t errsz)
{
	struct template	*t = xcalloc(1, sizeof *t);
	const char	*p = text, *end = text + len, *open = text, *close, *n;
	enum part_kind	 kind;
	size_t		 i, sections[TEMPLATE_MAX_DEPTH], depth = 0;
	struct part	*o;

	t->name = name;
	t->parts = xcalloc(TEMPLATE_MAX_PARTS, sizeof *t->parts);
	while (p < end) {
		open = memmem(p, (size_t)(end - p), "{{", 2);
		if (open == NULL) {
			open = end;
			if (add_part(t, PART_TEXT, p, (size_t)(end - p)) != 0)
				goto too_many;
			break;
		}
		if (open > p && add_part(t, PART_TEXT, p,
		    (size_t)(open - p)) != 0)
			goto too_many;
		close = memmem(open, (size_t)(end - open), "}}", 2);
		if (close == NULL) {
			snprintf(err, errsz, "template %s line %u: \"{{\" "
			    "without \"}}\"", name, line_of(text, open));
			goto fail;
		}
		n = open + 2;
		switch (*n) {
		case '&':
			kind = PART_RAW;
			break;
		case '#':
			kind = PART_IF;
			break;
		case '^':
			kind = PART_UNLESS;
			break;
		case '/':
			kind = PART_END;
			break;
		case '@':	/* an asset: the name keeps its '@' */
			kind = PART_VAR;
			n--;
			break;
		default:
			kind = PART_VAR;
			n--;
		}
		n++;
		if (n == close || (size_t)(close - n) > TEMPLATE_MAX_NAME)
			goto bad_name;
		for (i = (*n == '@'); n + i < close; i++)
			if (!name_char(n[i], *n == '@'))
				goto bad_name;
		if (*n == '@' && close - n == 1)
			goto bad_name;
		if (kind == PART_END) {
			if (depth == 0) {
				snprintf(err, errsz, "template %s line %u: "
				    "{{/%.*s}} closes no section", name,
				    line_of(text, open), (int)(close - n), n);
				goto fail;
			}
			o = &t->parts[sections[--depth]];
			if (o->len != (size_t)(close - n) ||
			    memcmp(o->text, n, o->len) != 0) {
				snprintf(err, errsz, "template %s line %u: "
				    "{{/%.*s}} closes {{%s%.*s}} of line %u",
				    name, line_of(text, open), (int)(close - n),
				    n, sigil(o->kind), (int)o->len, o->text,
				    line_of(text, o->text));
				goto fail;
			}
			o->end = t->nparts;
		} else if (kind == PART_IF || kind == PART_UNLESS) {
			if (depth == TEMPLATE_MAX_DEPTH) {
				snprintf(err, errsz, "template %s line %u: "
				    "sections nest deeper than %d", name,
				    line_of(text, open), TEMPLATE_MAX_DEPTH);
				goto fail;
			}
			sections[depth++] = t->nparts;
		}
		if (add_part(t, kind, n, (size_t)(close - n)) != 0)
			goto too_many;
		p = close + 2;
	}
	if (depth != 0) {
		o = &t->parts[sections[depth - 1]];
		snprintf(err, errsz, "template %s line %u: {{%s%.*s}} is not "
		    "closed", name, line_of(text, o->text), sigil(o->kind),
		    (int)o->len, o->text);
		goto fail;
	}
	return t;
bad_name:
	snprintf(err, errsz, "template %s line %u: bad name in a tag", name,
	    line_of(text, open));
	goto fail;
too_many:
	snprintf(err, errsz, "template %s line %u: more than %d parts", name,
	    line_of(text, open), TEMPLATE_MAX_PARTS);
fail:
	template_free(t);
	return NULL;
}

void
template_free(struct template *t)
{
	if (t == NULL)
		return;
	free(t->parts);
	free(t);
}

/*
 * While rendering: the views whose names are in scope, innermost last.
 * The view given to template_render is at the bottom; each list section
 * pushes its item. Sections nest at most TEMPLATE_MAX_DEPTH deep (the
 * parser sees to it), so the stack cannot overflow.
 */
struct render {
	struct buf		*b;
	const struct shoal_view	*stack[TEMPLATE_MAX_DEPTH + 1];
	size_t			 depth;
	template_resolver	 resolve;
	void			*ctx;
};

/* The innermost view that binds the name, then the resolver. */
static void
lookup(const struct render *rs, const struct part *p, struct view_value *v)
{
	size_t	 i;
	int	 html = 0;

	for (i = rs->depth; i > 0; i--)
		if (view_get(rs->stack[i - 1], p->text, p->len, v) !=
		    VIEW_UNSET)
			return;
	v->kind = VIEW_UNSET;
	v->items = NULL;
	if (rs->resolve != NULL &&
	    (v->text = rs->resolve(rs->ctx, p->text, p->len, &html)) != NULL)
		v->kind = html ? VIEW_HTML : VIEW_TEXT;
}

/* What makes {{#name}} show and {{^name}} hide. */
static int
shown(const struct view_value *v)
{
	switch (v->kind) {
	case VIEW_TEXT:
	case VIEW_HTML:
		return v->text[0] != '\0';
	case VIEW_LIST:
		return v->items != NULL;
	default:
		return 0;
	}
}

/*
 * Renders parts [from, to). A section renders its inside in place, once
 * per item for a list: each part is visited once per time it is output,
 * and output is only ever appended, so rendering is linear in its size.
 */
static void
render_parts(struct render *rs, const struct template *t, size_t from,
    size_t to)
{
	const struct part	*p;
	const struct shoal_view	*item;
	struct view_value	 v;
	size_t			 i;

	for (i = from; i < to; i++) {
		p = &t->parts[i];
		if (p->kind == PART_TEXT) {
			buf_put(rs->b, p->text, p->len);
			continue;
		}
		if (p->kind == PART_END)	/* sections skip past theirs */
			continue;
		lookup(rs, p, &v);
		switch (p->kind) {
		case PART_IF:
			if (v.kind == VIEW_LIST)
				for (item = v.items; item != NULL;
				    item = view_next(item)) {
					rs->stack[rs->depth++] = item;
					render_parts(rs, t, i + 1, p->end);
					rs->depth--;
				}
			else if (shown(&v))
				render_parts(rs, t, i + 1, p->end);
			i = p->end;
			break;
		case PART_UNLESS:
			if (!shown(&v))
				render_parts(rs, t, i + 1, p->end);
			i = p->end;
			break;
		case PART_RAW:
			/* Raw only what the tier or shoal_set_html vouched
			 * for; a plain value is escaped all the same. */
			if (v.kind == VIEW_HTML)
				buf_puts(rs->b, v.text);
			else if (v.kind == VIEW_TEXT)
				html_escape(rs->b, v.text, strlen(v.text));
			break;
		default:
			if (v.kind == VIEW_TEXT || v.kind == VIEW_HTML)
				html_escape(rs->b, v.text, strlen(v.text));
		}
	}
}

void
template_render(const struct template *t, struct buf *b,
    const struct shoal_view *view, template_resolver resolve, void *ctx)
{
	struct render	 rs;

	memset(&rs, 0, sizeof rs);
	rs.b = b;
	rs.resolve = resolve;
	rs.ctx = ctx;
	if (view != NULL)
		rs.stack[rs.depth++] = view;
	render_parts(&rs, t, 0, t->nparts);
}

static struct template	*loaded[TEMPLATES_MAX];
static size_t		 nloaded;

/* The tier's own pages' templates (app/tier/templates/, embedded). */
extern const struct shoal_template tier_templates[];

static int
has_template(const struct shoal_template *sources, const char *name)
{
	for (; sources->name != NULL; sources++)
		if (strcmp(sources->name, name) == 0)
			return 1;
	return 0;
}

/* Parses every template of sources but those shadow has one of its name
 * of. */
static int
load_all(const struct shoal_template *sources,
    const struct shoal_template *shadow, char *err, size_t errsz)
{
	const struct shoal_template	*s;

	for (s = sources; s->name != NULL; s++) {
		if (shadow != NULL && has_template(shadow, s->name))
			continue;
		if (nloaded == TEMPLATES_MAX) {
			snprintf(err, errsz, "more than %d templates",
			    TEMPLATES_MAX);
			return -1;
		}
		loaded[nloaded] = template_parse(s->name, s->text, s->len,
		    err, errsz);
		if (loaded[nloaded] == NULL)
			return -1;
		nloaded++;
	}
	return 0;
}

int
templates_load(const struct shoal_template *sources, char *err, size_t errsz)
{
	if (load_all(sources, NULL, err, errsz) != 0)
		return -1;
	/* The tier's pages, where the app has no template of that name. */
	return load_all(tier_templates, sources, err, errsz);
}

const struct template *
templates_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < nloaded; i++)
		if (strcmp(loaded[i]->name, name) == 0)
			return loaded[i];
	return NULL;
}

void
templates_free(void)
{
	while (nloaded > 0)
		template_free(loaded[--nloaded]);
}
