/*
 * fuzz_json.c - the JSON writer (json.h) driven by a program read from the
 * input, and json_string() and html_escape() on the input itself.
 *
 * Properties: the writer refuses exactly the programs a model of the rules
 * (kept here, apart from json.c) says are misuse, and everything it accepts
 * is one valid JSON text (tests/unit/jsoncheck.h) with no '<', '>' or '&'
 * and no raw U+2028 or U+2029; json_string() always yields one valid JSON
 * string, well-formed UTF-8 input comes back unchanged; html_escape()
 * leaves no markup character.
 */
#include "arena.h"
#include "buf.h"
#include "fuzz.h"
#include "html.h"
#include "json.h"
#include "jsoncheck.h"
#include "shoal.h"

/* What the writer should make of the calls so far. */
struct model {
	char	 open[64];	/* '{' or '[' */
	size_t	 depth;
	int	 done;
	int	 misuse;
};

/* Before a value with or without a key: is it allowed? */
static void
model_value(struct model *m, int has_key, int key_valid)
{
	if (m->misuse)
		return;
	if (m->depth == 0)
		m->misuse = m->done || has_key;
	else if (m->open[m->depth - 1] == '{')
		m->misuse = !has_key || !key_valid;
	else
		m->misuse = has_key;
}

/* After a scalar or a closing: the document may be complete. */
static void
model_after(struct model *m)
{
	if (!m->misuse && m->depth == 0)
		m->done = 1;
}

/*
 * Reads a string of 0-15 bytes from the program: its bytes as they are,
 * so about half of them are not valid UTF-8 once a byte >= 0x80 appears.
 */
static const char *
take_string(const uint8_t **p, const uint8_t *end, char *out, int *valid)
{
	size_t	 n = 0, want;

	if (*p >= end) {
		out[0] = '\0';
		*valid = 1;
		return out;
	}
	want = **p % 16;
	(*p)++;
	while (n < want && *p < end && **p != 0) {
		out[n++] = (char)**p;
		(*p)++;
	}
	out[n] = '\0';
	*valid = utf8_valid(out, n);
	return out;
}

/*
 * One instruction per byte: the low three bits say what to call, bit 3
 * asks for a key, bit 4 says to give the key or not as the rules want
 * (so most programs stay valid and go deep), the other bits are operands.
 */
static void
run_program(const uint8_t *p, size_t size)
{
	const uint8_t		*end = p + size;
	struct arena		 a;
	struct shoal_json	 j;
	struct model		 m;
	const char		*text, *why = NULL, *key;
	char			 keybuf[16], valbuf[16];
	size_t			 len = 0, i;
	int			 op, has_key, key_valid, val_valid;

	arena_init(&a);
	json_init(&j, &a);
	memset(&m, 0, sizeof m);
	while (p < end) {
		op = *p++;
		has_key = (op & 0x10) ? m.depth > 0 && m.open[m.depth - 1] == '{'
		    : (op & 0x08) != 0;
		key_valid = 1;
		key = NULL;
		if (has_key && (op & 7) != 2)
			key = take_string(&p, end, keybuf, &key_valid);
		switch (op & 7) {
		case 0:
		case 1:
			model_value(&m, has_key, key_valid);
			if (!m.misuse) {
				if (m.depth == JSON_MAX_DEPTH)
					m.misuse = 1;
				else
					m.open[m.depth++] = (op & 7) ? '[' : '{';
			}
			if (op & 7)
				shoal_json_array(&j, key);
			else
				shoal_json_object(&j, key);
			break;
		case 2:
		case 7:
			if (!m.misuse && m.depth == 0)
				m.misuse = 1;
			else if (!m.misuse) {
				m.depth--;
				model_after(&m);
			}
			shoal_json_end(&j);
			break;
		case 3:
			/* Bit 5: NULL instead of the string read. */
			take_string(&p, end, valbuf, &val_valid);
			model_value(&m, has_key, key_valid);
			if (!m.misuse && !(op & 0x20) && !val_valid)
				m.misuse = 1;
			model_after(&m);
			shoal_json_str(&j, key, (op & 0x20) ? NULL : valbuf);
			break;
		case 4:
			model_value(&m, has_key, key_valid);
			model_after(&m);
			/* Wide values of both signs (the conversion wraps
			 * on the compilers we use). */
			shoal_json_int(&j, key, (long long)((uint64_t)op *
			    0x0101010101010101ULL));
			break;
		case 5:
			model_value(&m, has_key, key_valid);
			model_after(&m);
			shoal_json_bool(&j, key, op & 0x20);
			break;
		default:
			model_value(&m, has_key, key_valid);
			model_after(&m);
			shoal_json_str(&j, key, NULL);
		}
	}
	text = json_result(&j, &len, &why);
	if (!m.misuse && (m.depth > 0 || !m.done))
		m.misuse = 1;
	FUZZ_CHECK((text == NULL) == (m.misuse != 0));
	if (text != NULL) {
		FUZZ_CHECK(strlen(text) == len);
		FUZZ_CHECK(jc_json_doc(text, len) == 0);
		FUZZ_CHECK(strpbrk(text, "<>&") == NULL);
		for (i = 0; i + 2 < len; i++)
			FUZZ_CHECK(!((unsigned char)text[i] == 0xe2 &&
			    (unsigned char)text[i + 1] == 0x80 &&
			    ((unsigned char)text[i + 2] == 0xa8 ||
			    (unsigned char)text[i + 2] == 0xa9)));
	} else
		FUZZ_CHECK(why != NULL && why[0] != '\0');
	arena_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 b;
	char		*dec;
	long		 n;
	size_t		 i;

	data = FUZZ_DATA(data, size);
	fuzz_init();
	run_program(data, size);

	buf_init(&b);
	json_string(&b, (const char *)data, size);
	dec = malloc(3 * size + 1);
	FUZZ_CHECK(dec != NULL);
	n = jc_json_decode(b.data, b.len, dec);
	FUZZ_CHECK(n >= 0);
	if (jc_utf8_valid(data, size))
		FUZZ_CHECK((size_t)n == size && memcmp(dec, data, size) == 0);
	free(dec);

	buf_reset(&b);
	html_escape(&b, (const char *)data, size);
	(void)buf_cstr(&b);	/* a NUL after len, for the strncmp below */
	for (i = 0; i < b.len; i++) {
		FUZZ_CHECK(b.data[i] != '<' && b.data[i] != '>' &&
		    b.data[i] != '"' && b.data[i] != '\'');
		if (b.data[i] == '&')
			FUZZ_CHECK(strncmp(b.data + i, "&amp;", 5) == 0 ||
			    strncmp(b.data + i, "&lt;", 4) == 0 ||
			    strncmp(b.data + i, "&gt;", 4) == 0 ||
			    strncmp(b.data + i, "&quot;", 6) == 0 ||
			    strncmp(b.data + i, "&#39;", 5) == 0);
	}
	buf_free(&b);
	return 0;
}
