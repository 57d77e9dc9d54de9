/*
 * template.h - the page templates, compiled into the binary from the app's
 * templates/ folder by tools/embed and parsed once at start.
 *
 * Syntax: {{name}} is replaced by the variable's value, HTML-escaped;
 * {{&name}} inserts it as it is (for fragments the handler escaped itself).
 * {{#name}}...{{/name}} keeps what is inside only when name is set and not
 * empty; {{^name}}...{{/name}} only when it is not. {{@style.css}} is the
 * URL of an asset (its name may also hold '.' and '-'), resolved like a
 * variable called "@style.css". A variable that is not given renders as
 * nothing. If a template called
 * "layout" exists, every other page is rendered into its {{&content}}.
 */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <stddef.h>

struct buf;
struct shoal_template;
struct shoal_var;

struct template;

/* Parses text; returns NULL with a line in err on a syntax error. */
struct template	*template_parse(const char *name, const char *text,
		    size_t len, char *err, size_t errsz);
void		 template_free(struct template *);
/*
 * Resolves a variable that vars does not give, only when the template
 * reaches it (so a costly value, such as a CSRF token, is made only for a
 * page that shows it). Returns NULL for an unknown name.
 */
typedef const char *(*template_resolver)(void *ctx, const char *name,
		    size_t len);

/* Appends the rendered template. Variables are looked up first in vars,
 * then through resolve (either may be NULL). */
void		 template_render(const struct template *, struct buf *,
		    const struct shoal_var *vars, template_resolver resolve,
		    void *ctx);

/* The app's templates (ended by a NULL name), parsed once at start. */
int		 templates_load(const struct shoal_template *, char *err,
		    size_t errsz)
		    __attribute__((warn_unused_result));
const struct template *templates_find(const char *name);
void		 templates_free(void);

#endif
