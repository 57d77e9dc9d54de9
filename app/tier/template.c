/*
 * template.c - page templates (see template.h).
 *
 * A template is parsed once into a list of parts: literal text, an escaped
 * variable or a raw variable. Rendering walks the parts; nothing is parsed
 * on the request path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "html.h"
#include "oom.h"
#include "shoal.h"
#include "template.h"

#define TEMPLATE_MAX_PARTS	256
#define TEMPLATE_MAX_NAME	64
#define TEMPLATES_MAX		64

#define TEMPLATE_MAX_DEPTH	8

enum part_kind {
	PART_TEXT,
	PART_VAR,	/* {{name}} */
	PART_RAW,	/* {{&name}} */
	PART_IF,	/* {{#name}}: what follows, if name is set and not "" */
	PART_UNLESS,	/* {{^name}}: what follows, if name is unset or "" */
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

struct template *
template_parse(const char *name, const char *text, size_t len, char *err,
    size_t errsz)
{
	struct template	*t = xcalloc(1, sizeof *t);
	const char	*p = text, *end = text + len, *open, *close, *n;
	enum part_kind	 kind;
	size_t		 i, open_sections[TEMPLATE_MAX_DEPTH], depth = 0;

	t->name = name;
	t->parts = xcalloc(TEMPLATE_MAX_PARTS, sizeof *t->parts);
	while (p < end) {
		open = memmem(p, (size_t)(end - p), "{{", 2);
		if (open == NULL) {
			if (add_part(t, PART_TEXT, p, (size_t)(end - p)) != 0)
				goto too_many;
			break;
		}
		if (open > p && add_part(t, PART_TEXT, p,
		    (size_t)(open - p)) != 0)
			goto too_many;
		close = memmem(open, (size_t)(end - open), "}}", 2);
		if (close == NULL) {
			snprintf(err, errsz, "template %s: \"{{\" without "
			    "\"}}\"", name);
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
			struct part *o;

			if (depth == 0)
				goto unbalanced;
			o = &t->parts[open_sections[--depth]];
			if (o->len != (size_t)(close - n) ||
			    memcmp(o->text, n, o->len) != 0)
				goto unbalanced;
			o->end = t->nparts;
		} else if (kind == PART_IF || kind == PART_UNLESS) {
			if (depth == TEMPLATE_MAX_DEPTH)
				goto unbalanced;
			open_sections[depth++] = t->nparts;
		}
		if (add_part(t, kind, n, (size_t)(close - n)) != 0)
			goto too_many;
		p = close + 2;
	}
	if (depth != 0)
		goto unbalanced;
	return t;
unbalanced:
	snprintf(err, errsz, "template %s: sections do not match (or nest "
	    "deeper than %d) near offset %zu", name, TEMPLATE_MAX_DEPTH,
	    (size_t)(p - text));
	goto fail;
bad_name:
	snprintf(err, errsz, "template %s: bad variable name at offset %zu",
	    name, (size_t)(p - text));
	goto fail;
too_many:
	snprintf(err, errsz, "template %s: more than %d parts", name,
	    TEMPLATE_MAX_PARTS);
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

static const char *
lookup(const struct shoal_var *vars, const char *name, size_t len)
{
	for (; vars != NULL && vars->name != NULL; vars++)
		if (strncmp(vars->name, name, len) == 0 &&
		    vars->name[len] == '\0')
			return vars->value ? vars->value : "";
	return NULL;
}

void
template_render(const struct template *t, struct buf *b,
    const struct shoal_var *vars, template_resolver resolve, void *ctx)
{
	const struct part	*p;
	const char		*v;

	for (p = t->parts; p < t->parts + t->nparts; p++) {
		if (p->kind == PART_TEXT) {
			buf_put(b, p->text, p->len);
			continue;
		}
		if (p->kind == PART_END)
			continue;
		if ((v = lookup(vars, p->text, p->len)) == NULL &&
		    resolve != NULL)
			v = resolve(ctx, p->text, p->len);
		switch (p->kind) {
		case PART_IF:
			if (v == NULL || *v == '\0')
				p = t->parts + p->end;
			break;
		case PART_UNLESS:
			if (v != NULL && *v != '\0')
				p = t->parts + p->end;
			break;
		case PART_RAW:
			if (v != NULL)
				buf_puts(b, v);
			break;
		default:
			if (v != NULL)
				html_escape(b, v, strlen(v));
		}
	}
}

static struct template	*loaded[TEMPLATES_MAX];
static size_t		 nloaded;

int
templates_load(const struct shoal_template *sources, char *err, size_t errsz)
{
	const struct shoal_template	*s;

	for (s = sources; s->name != NULL; s++) {
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
