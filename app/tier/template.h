/*
 * template.h - the page templates, compiled into the binary from the app's
 * templates/ folder by tools/embed and parsed once at start.
 *
 * A template renders a view (view.h, filled by the handler through shoal.h).
 * Syntax:
 *   {{name}}       the value, HTML-escaped
 *   {{&name}}      the value as it is, only for HTML the tier built or a
 *                  handler set with shoal_set_html(); any other value is
 *                  escaped all the same
 *   {{#name}}..{{/name}}   for a list, the inside once per item, names
 *                  looked up in the item first and then outwards in the
 *                  enclosing items and the view; for a value, the inside
 *                  once when it is set and not ""
 *   {{^name}}..{{/name}}   the inside once when name is unset, "" or a list
 *                  without items
 *   {{@style.css}} the URL of an asset (its name may also hold '.' and
 *                  '-'), resolved like a value called "@style.css"
 * Sections nest at most 8 deep. A name bound nowhere renders as nothing. If
 * a template called "layout" exists, every other page is rendered into its
 * {{&content}}.
 */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <stddef.h>

struct buf;
struct shoal_template;
struct shoal_view;

struct template;

/* Parses text; returns NULL with a line in err on a syntax error. */
struct template	*template_parse(const char *name, const char *text,
		    size_t len, char *err, size_t errsz);
void		 template_free(struct template *);
/*
 * Resolves a name that no view in scope binds, only when the template
 * reaches it (so a costly value, such as a CSRF token, is made only for a
 * page that shows it). Returns NULL for an unknown name. *html starts at 0;
 * the resolver sets it to 1 for HTML the tier built (the layout's content),
 * which {{&name}} then writes as it is.
 */
typedef const char *(*template_resolver)(void *ctx, const char *name,
		    size_t len, int *html);

/* Appends the rendered template. Names are looked up in the views in
 * scope, then through resolve (view and resolve may be NULL). */
void		 template_render(const struct template *, struct buf *,
		    const struct shoal_view *view, template_resolver resolve,
		    void *ctx);

/* The app's templates (ended by a NULL name), parsed once at start,
 * then the tier's own (app/tier/templates/) of names the app has none of. */
int		 templates_load(const struct shoal_template *, char *err,
		    size_t errsz)
		    __attribute__((warn_unused_result));
const struct template *templates_find(const char *name);
void		 templates_free(void);

#endif
