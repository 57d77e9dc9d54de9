/*
 * jsoncheck.h - an independent checker for JSON string literals and whole
 * documents, written from RFC 8259 (sections 2 to 7) and Unicode's table of
 * well-formed UTF-8 (Table 3-7), shared by tests/unit/test_html.c,
 * tests/unit/test_json.c and tests/fuzz/fuzz_json.c.
 */
#ifndef JSONCHECK_H
#define JSONCHECK_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s, or 0. */
static inline size_t
jc_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static inline int
jc_utf8_valid(const unsigned char *s, size_t n)
{
	size_t	 i = 0, k;

	while (i < n) {
		if ((k = jc_utf8_len(s + i, n - i)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

static inline int
jc_hex4(const char *s, unsigned *out)
{
	unsigned	 v = 0;
	int		 i;

	for (i = 0; i < 4; i++) {
		char	 c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Checks that s is one JSON string literal (RFC 8259 section 7) whose text
 * is well-formed UTF-8 with no surrogate escapes, and decodes it into out
 * (UTF-8). Returns the decoded length or -1.
 */
static inline long
jc_json_decode(const char *s, size_t len, char *out)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, o = 0, k;
	unsigned		 cp;

	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return -1;
	if (!jc_utf8_valid(u, len))
		return -1;
	for (i = 1; i < len - 1; i++) {
		if (u[i] == '"' || u[i] < 0x20)
			return -1;
		if (u[i] != '\\') {
			k = jc_utf8_len(u + i, len - 1 - i);
			if (k == 0)
				return -1;
			memcpy(out + o, s + i, k);
			o += k;
			i += k - 1;
			continue;
		}
		if (++i >= len - 1)
			return -1;
		switch (s[i]) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (len - 1 - (i + 1) < 4 || jc_hex4(s + i + 1, &cp) != 0)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdfff)
				return -1;
			i += 4;
			if (cp < 0x80)
				out[o++] = (char)cp;
			else if (cp < 0x800) {
				out[o++] = (char)(0xc0 | cp >> 6);
				out[o++] = (char)(0x80 | (cp & 0x3f));
			} else {
				out[o++] = (char)(0xe0 | cp >> 12);
				out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				out[o++] = (char)(0x80 | (cp & 0x3f));
			}
			break;
		default:
			return -1;
		}
	}
	out[o] = '\0';
	return (long)o;
}

/* A document being checked: the text and where the checker is. */
struct jc_doc {
	const char	*s;
	size_t		 len;
	size_t		 i;
	int		 depth;
};

#define JC_MAX_DEPTH	64

static inline void
jc_ws(struct jc_doc *d)
{
	while (d->i < d->len && (d->s[d->i] == ' ' || d->s[d->i] == '\t' ||
	    d->s[d->i] == '\n' || d->s[d->i] == '\r'))
		d->i++;
}

/* One string literal at d->i, checked by jc_json_decode. */
static inline int
jc_doc_string(struct jc_doc *d)
{
	size_t	 start = d->i, k;
	char	*out;
	long	 n;

	if (d->i >= d->len || d->s[d->i] != '"')
		return -1;
	for (k = d->i + 1; k < d->len && d->s[k] != '"'; k++)
		if (d->s[k] == '\\')
			k++;
	if (k >= d->len)
		return -1;
	d->i = k + 1;
	if ((out = malloc(d->i - start + 1)) == NULL)
		return -1;
	n = jc_json_decode(d->s + start, d->i - start, out);
	free(out);
	return n < 0 ? -1 : 0;
}

static inline int
jc_digits(struct jc_doc *d)
{
	size_t	 start = d->i;

	while (d->i < d->len && d->s[d->i] >= '0' && d->s[d->i] <= '9')
		d->i++;
	return d->i > start ? 0 : -1;
}

/* number = [ minus ] int [ frac ] [ exp ]; int = zero / digit1-9 *DIGIT */
static inline int
jc_doc_number(struct jc_doc *d)
{
	if (d->i < d->len && d->s[d->i] == '-')
		d->i++;
	if (d->i < d->len && d->s[d->i] == '0')
		d->i++;
	else if (d->i >= d->len || d->s[d->i] < '1' || d->s[d->i] > '9' ||
	    jc_digits(d) != 0)
		return -1;
	if (d->i < d->len && d->s[d->i] == '.') {
		d->i++;
		if (jc_digits(d) != 0)
			return -1;
	}
	if (d->i < d->len && (d->s[d->i] == 'e' || d->s[d->i] == 'E')) {
		d->i++;
		if (d->i < d->len && (d->s[d->i] == '+' || d->s[d->i] == '-'))
			d->i++;
		if (jc_digits(d) != 0)
			return -1;
	}
	return 0;
}

static inline int
jc_doc_word(struct jc_doc *d, const char *w)
{
	size_t	 n = strlen(w);

	if (d->len - d->i < n || memcmp(d->s + d->i, w, n) != 0)
		return -1;
	d->i += n;
	return 0;
}

static inline int jc_doc_value(struct jc_doc *);

/* The members of an object or the elements of an array, after the opener. */
static inline int
jc_doc_members(struct jc_doc *d, char closer)
{
	jc_ws(d);
	if (d->i < d->len && d->s[d->i] == closer) {
		d->i++;
		return 0;
	}
	for (;;) {
		if (closer == '}') {
			jc_ws(d);
			if (jc_doc_string(d) != 0)
				return -1;
			jc_ws(d);
			if (d->i >= d->len || d->s[d->i++] != ':')
				return -1;
		}
		if (jc_doc_value(d) != 0)
			return -1;
		jc_ws(d);
		if (d->i >= d->len)
			return -1;
		if (d->s[d->i] == closer) {
			d->i++;
			return 0;
		}
		if (d->s[d->i++] != ',')
			return -1;
	}
}

static inline int
jc_doc_value(struct jc_doc *d)
{
	int	 rc;

	jc_ws(d);
	if (d->i >= d->len)
		return -1;
	switch (d->s[d->i]) {
	case '{':
	case '[':
		if (++d->depth > JC_MAX_DEPTH)
			return -1;
		d->i++;
		rc = jc_doc_members(d, d->s[d->i - 1] == '{' ? '}' : ']');
		d->depth--;
		return rc;
	case '"':
		return jc_doc_string(d);
	case 't':
		return jc_doc_word(d, "true");
	case 'f':
		return jc_doc_word(d, "false");
	case 'n':
		return jc_doc_word(d, "null");
	default:
		return jc_doc_number(d);
	}
}

/* 0 when the len bytes at s are exactly one JSON text (RFC 8259 section 2). */
static inline int
jc_json_doc(const char *s, size_t len)
{
	struct jc_doc	 d = { s, len, 0, 0 };

	if (jc_doc_value(&d) != 0)
		return -1;
	jc_ws(&d);
	return d.i == len ? 0 : -1;
}

#endif
