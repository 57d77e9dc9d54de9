/*
 * fuzz_template.c - template_parse() and template_render() on any text.
 * Properties: a refused template explains itself in one line naming it; an
 * accepted one renders without touching memory it does not own, a template
 * without "{{" renders as itself, and the resolver only ever sees names
 * made of [A-Za-z0-9_], or asset names: '@' then [A-Za-z0-9_.-].
 */
#include "buf.h"
#include "fuzz.h"
#include "shoal.h"
#include "template.h"

/* template.c refers to the embedded set; the fuzzer has none. */

static const char *
resolve(void *ctx, const char *name, size_t len)
{
	size_t	 i;
	int	 asset;

	(void)ctx;
	FUZZ_CHECK(len >= 1 && len <= 64);
	/* An asset name: '@' and at least one of [A-Za-z0-9_.-]. */
	asset = name[0] == '@';
	FUZZ_CHECK(!asset || len >= 2);
	for (i = asset; i < len; i++)
		FUZZ_CHECK((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
		    (asset && (name[i] == '.' || name[i] == '-')));
	/* Set for names of odd length, so sections go both ways. */
	return (len & 1) ? "<v&>" : NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct shoal_var vars[] = {
		{ "a", "1" }, { "b", "" }, { "x", "<b>" }, { "name", NULL },
		{ NULL, NULL },
	};
	struct template	*t;
	struct buf	 b;
	char		*text, err[256];

	data = FUZZ_DATA(data, size);
	fuzz_init();
	/* An exact copy, so reading past len is caught. */
	text = malloc(size ? size : 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	memset(err, 0, sizeof err);
	t = template_parse("fz", text, size, err, sizeof err);
	if (t == NULL) {
		FUZZ_CHECK(strstr(err, "fz") != NULL);
		FUZZ_CHECK(strchr(err, '\n') == NULL);
		free(text);
		return 0;
	}
	buf_init(&b);
	template_render(t, &b, vars, resolve, NULL);
	(void)buf_cstr(&b);	/* allocates, even for an empty render */
	if (memmem(text, size, "{{", 2) == NULL)
		FUZZ_CHECK(b.len == size && memcmp(b.data, text, size) == 0);
	buf_reset(&b);
	template_render(t, &b, NULL, NULL, NULL);
	buf_free(&b);
	template_free(t);
	free(text);
	return 0;
}
