/*
 * html.c - HTML and JSON string escaping, and the UTF-8 check they share
 * (see html.h).
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "html.h"

void
html_escape(struct buf *b, const char *s, size_t len)
{
	size_t	 i, start = 0;
	const char *rep;

	buf_reserve(b, len);
	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		buf_put(b, s + start, i - start);
		buf_puts(b, rep);
		start = i + 1;
	}
	buf_put(b, s + start, len - start);
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when the
 * bytes there are not one: overlong forms, surrogates and code points past
 * U+10FFFF are rejected as RFC 3629 says.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t	 cp;
	size_t		 len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, n;

	while (i < len) {
		if ((n = utf8_len(u + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* The length of the run at s of printable ASCII that JSON and an inline
 * script take as it is: not " \\ < > & or a control byte. */
static size_t
plain_run(const unsigned char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '"' ||
		    s[i] == '\\' || s[i] == '<' || s[i] == '>' || s[i] == '&')
			break;
	return i;
}

/*
 * The one JSON string escaper. strict: stop at the first byte that is not
 * valid UTF-8 and return -1; otherwise write U+FFFD for it.
 */
static int
json_escape(struct buf *b, const char *s, size_t len, int strict)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t	 i = 0, n, start = b->len;

	buf_reserve(b, len + 2);
	buf_putc(b, '"');
	while (i < len) {
		unsigned char c = u[i];

		/* Most text is plain ASCII that needs nothing: copy it a run
		 * at a time (a log line is mostly this). */
		if ((n = plain_run(u + i, len - i)) > 0) {
			buf_put(b, s + i, n);
			i += n;
			continue;
		}
		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
			i++;
		} else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' ||
		    c == '&') {
			/* < > & too: no "</script>" or "<!--" if the JSON is
			 * ever inlined in a page. */
			char	 esc[6] = { '\\', 'u', '0', '0',
			    hex[c >> 4], hex[c & 15] };

			buf_put(b, esc, sizeof esc);
			i++;
		} else if ((n = utf8_len(u + i, len - i)) == 0) {
			if (strict) {
				b->len = start;
				return -1;
			}
			buf_puts(b, "\\ufffd");
			i++;
		} else if (n == 3 && c == 0xe2 && u[i + 1] == 0x80 &&
		    (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
			/* U+2028, U+2029: line ends to JavaScript before
			 * ES2019, so a string literal would break there. */
			buf_puts(b, u[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
			i += n;
		} else {
			buf_put(b, s + i, n);
			i += n;
		}
	}
	buf_putc(b, '"');
	return 0;
}

void
json_string(struct buf *b, const char *s, size_t len)
{
	(void)json_escape(b, s, len, 0);
}

int
json_string_strict(struct buf *b, const char *s, size_t len)
{
	return json_escape(b, s, len, 1);
}
