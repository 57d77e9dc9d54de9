/*
 * html.h - escaping for HTML text and attribute values, and for JSON strings.
 */
#ifndef HTML_H
#define HTML_H

#include <stddef.h>

struct buf;

/* Appends s with & < > " ' escaped; safe in text and in quoted attributes. */
void	html_escape(struct buf *, const char *s, size_t len);
/*
 * Appends s as a JSON string literal, quotes included (RFC 8259). Besides
 * what JSON requires, < > & U+2028 and U+2029 are escaped too, so the
 * literal is also safe inside an HTML page or a <script> element. For log
 * lines, json_string() replaces bytes that are not valid UTF-8 by U+FFFD so
 * the output is always valid JSON; json_string_strict() refuses them
 * instead: it returns -1 and leaves b as it was.
 */
void	json_string(struct buf *, const char *s, size_t len);
int	json_string_strict(struct buf *, const char *s, size_t len)
	    __attribute__((warn_unused_result));
/* 1 when the len bytes at s are well-formed UTF-8 (RFC 3629). */
int	utf8_valid(const char *s, size_t len);

#endif
