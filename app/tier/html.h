/*
 * html.h - escaping for HTML text and attribute values, and for JSON strings.
 */
#ifndef HTML_H
#define HTML_H

#include <stddef.h>

struct buf;

/* Appends s with & < > " ' escaped; safe in text and in quoted attributes. */
void	html_escape(struct buf *, const char *s, size_t len);
/* Appends s as a JSON string literal, quotes included. Bytes that are not
 * valid UTF-8 are replaced by U+FFFD so the output is always valid JSON. */
void	json_string(struct buf *, const char *s, size_t len);

#endif
